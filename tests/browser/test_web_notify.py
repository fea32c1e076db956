"""Desktop notifications in the web client: for direct messages and mentions while the
page is hidden, only when the person turned them on; a click opens the chat at the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .browser_support import Person, expect

# The page can be made hidden (as a background tab), and every Notification it creates
# is recorded (a real one: the class is only extended).
HIDDEN_AND_RECORDED = """
(() => {
  let hidden = false;
  Object.defineProperty(document, "visibilityState", {
    configurable: true, get: () => (hidden ? "hidden" : "visible"),
  });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notes = [];
  const Native = window.Notification;
  window.Notification = class extends Native {
    constructor(title, options) {
      super(title, options);
      window.__notes.push(this);
    }
  };
})();
"""


def notes(person: Person) -> list[dict[str, Any]]:
    return list(person.page.evaluate(
        "() => window.__notes.map((n) => ({ title: n.title, body: n.body, tag: n.tag }))"))


def set_notifications(person: Person, on: bool) -> None:
    page = person.page
    page.locator("#account").click()
    toggle = page.get_by_label("Desktop notifications")
    if on:
        toggle.check()
    else:
        toggle.uncheck()
    expect(toggle).to_be_checked(checked=on)
    person.screenshot("notify-setting-on" if on else "notify-setting-off")
    page.locator("#account-dialog [data-close]").first.click()
    expect(page.locator("#account-dialog")).to_be_hidden()


def test_notifications_for_direct_messages_and_mentions(
    people: Callable[..., Person], unique: Callable[[str], str], server_url: str
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    context = alice.page.context
    context.grant_permissions(["notifications"], origin=server_url)
    context.add_init_script(HIDDEN_AND_RECORDED)
    alice.page.reload()
    expect(alice.page.locator("#me-name")).to_have_text(a)
    expect(alice.page.locator("#chat-name")).to_have_text("general")
    set_notifications(alice, True)
    assert alice.page.evaluate("() => localStorage.getItem('parley.notifications')") == "on"
    alice.page.evaluate("() => window.__setHidden(true)")

    # A direct message while alice is hidden in another chat.
    bob.page.get_by_role("button", name="New direct message").click()
    bob.page.fill("#direct-search", a)
    bob.page.locator(f'#direct-results .direct-result[data-login="{a}"]').click()
    bob.page.locator("#direct-submit").click()
    expect(bob.page.locator("#chat-name")).to_have_text(a)
    bob.say("psst, a secret")
    chat = "@" + ",".join(sorted([a, b], key=str.casefold))
    direct = alice.page.locator(f'#direct-list .chat-item[data-chat="{chat}"]')
    expect(direct.locator(".badge-unread")).to_have_text("1")
    assert notes(alice) == [{"title": b, "body": f"New message from {b}", "tag": f"parley:{chat}"}]

    # A mention in the chat alice has open, while the page is hidden.
    bob.enter_chat("general")
    bob.say(f"hello @{a}, are you there?")
    expect(alice.message_with_text(f"hello @{a}, are you there?")).to_have_count(1)
    assert notes(alice)[1:] == [
        {"title": "general", "body": f"{b}: hello @{a}, are you there?", "tag": "parley:general"}]
    # A plain message in a room is no reason to notify.
    bob.say("just chatting")
    expect(alice.message_with_text("just chatting")).to_have_count(1)
    assert len(notes(alice)) == 2

    # Clicking the first one opens the direct chat at that message.
    alice.page.evaluate("() => window.__notes[0].onclick()")
    expect(alice.page.locator("#chat-name")).to_have_text(b)
    marked = alice.page.locator("#message-list .msg.highlight")
    expect(marked).to_have_count(1)
    expect(marked.locator(".msg-text")).to_have_text("psst, a secret")
    expect(marked).to_be_in_viewport()
    alice.screenshot("notification-opened")

    # Turned off: nothing more is shown.
    set_notifications(alice, False)
    assert alice.page.evaluate("() => localStorage.getItem('parley.notifications')") == "off"
    bob.page.locator(f'#direct-list .chat-item[data-chat="{chat}"]').click()
    expect(bob.page.locator("#chat-name")).to_have_text(a)
    bob.say("and another one")
    expect(alice.message_with_text("and another one")).to_have_count(1)
    assert len(notes(alice)) == 2


def test_a_notification_opens_a_message_older_than_the_first_page(
    people: Callable[..., Person], unique: Callable[[str], str], server_url: str
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    context = alice.page.context
    context.grant_permissions(["notifications"], origin=server_url)
    context.add_init_script(HIDDEN_AND_RECORDED)
    alice.page.reload()
    expect(alice.page.locator("#me-name")).to_have_text(a)
    set_notifications(alice, True)
    room = unique("busy")
    bob.create_chat(room)
    alice.enter_chat(room)
    alice.enter_chat("general")
    alice.page.evaluate("() => window.__setHidden(true)")

    bob.say(f"@{a} look at this one")
    expect(alice.chat_button(room).locator(".badge-mention")).to_have_text("@")
    assert notes(alice) == [{"title": room, "body": f"{b} mentioned you", "tag": f"parley:{room}"}]
    # More than a page (30) after it, so opening the chat does not show it.
    fillers = [f"filler {i}" for i in range(1, 33)]
    for text in fillers:
        bob.say(text)
    expect(bob.page.locator("#message-list .msg-text").last).to_have_text("filler 32")

    alice.page.evaluate("() => window.__notes[0].onclick()")
    expect(alice.page.locator("#chat-name")).to_have_text(room)
    marked = alice.page.locator("#message-list .msg.highlight")
    expect(marked.locator(".msg-text")).to_have_text(f"@{a} look at this one")
    expect(marked).to_be_in_viewport()
    expect(alice.page.locator("#message-list .msg")).to_have_count(33)
    # The divider is above the first unread message, also when it came with an earlier page.
    divider = alice.page.locator("#message-list .unread-divider")
    after = divider.evaluate("(d) => d.nextElementSibling.querySelector('.msg-text').textContent")
    assert after == f"@{a} look at this one"
    # And the count is exact (the last activity push may never have come: the chat was opened).
    expect(alice.chat_button(room).locator(".badge-unread")).to_have_text("33")
    alice.screenshot("notification-opened-earlier")
