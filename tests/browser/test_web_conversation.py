"""What a new user runs into in a conversation: sending fast, drafts, reconnecting,
the keyboard, a phone, and how messages are grouped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from parley.testing import ServerProcess

from .browser_support import Person, expect, stored_texts


def test_rate_limited_messages_are_kept_and_sent_again(
    people: Callable[..., Person], unique: Callable[[str], str], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "data", "--rate-limit", "5", "--rate-burst", "5").start()
    try:
        alice = people(url=server.http)
        alice.register(unique("alice"))
        room = unique("fast")
        alice.create_chat(room)
        box = alice.page.locator("#text-input")
        texts = [f"quick {i}" for i in range(1, 31)]
        for text in texts:
            box.fill(text)
            box.press("Enter")
        # Refused as too fast: nothing is lost, what waits is shown as not sent.
        expect(alice.page.locator("#composer-error")).to_contain_text(
            "You are sending messages too fast.")
        expect(alice.page.locator("#unsent-list .msg.unsent").first).to_be_visible()
        expect(box).to_have_value("")
        # Then everything goes out by itself, each once, in the order typed.
        expect(alice.page.locator("#unsent-list .msg")).to_have_count(0, timeout=60_000)
        expect(alice.page.locator("#message-list .msg-text")).to_have_text(texts)
        assert stored_texts(tmp_path / "data", room) == texts
        expect(alice.page.locator("#composer-error")).to_be_hidden()
    finally:
        server.stop()


def test_what_was_written_offline_goes_out_when_the_connection_is_back(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    alice.create_chat(unique("offline"))
    alice.page.context.set_offline(True)
    alice.cut_connection()
    expect(alice.page.locator("#banner")).to_be_visible()
    alice.say("written offline")
    error = alice.page.locator("#composer-error")
    expect(error).to_contain_text("Not connected right now.")
    expect(alice.page.locator("#unsent-list .msg-text")).to_have_text(["written offline"])

    alice.page.context.set_offline(False)
    expect(alice.page.locator("#banner")).to_be_hidden()
    # No second Enter: it is sent by itself, and the stale notice goes away.
    expect(alice.message_with_text("written offline")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(alice.page.locator("#unsent-list .msg")).to_have_count(0)


def focused(person: Person) -> str:
    return str(person.page.evaluate("() => document.activeElement.id"))


def test_the_keyboard_reaches_everything(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    page = alice.page
    expect(page.locator("#auth-form")).to_be_visible()
    # The form opens in the name field; the tabs are one stop just before it,
    # and from them Tab goes through the form in order, to the submit button last.
    assert focused(alice) == "auth-login"
    page.keyboard.press("Shift+Tab")
    assert focused(alice) == "tab-login"
    page.keyboard.press("ArrowRight")
    assert focused(alice) == "tab-register"
    expect(page.locator("#auth-submit")).to_have_text("Create account")
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(focused(alice))
    assert order == ["auth-login", "auth-password", "auth-submit"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(alice) == "tab-register"

    page.fill("#auth-login", unique("alice"))
    page.fill("#auth-password", "correct horse battery")
    page.locator("#auth-password").press("Enter")
    expect(page.locator("#chat-name")).to_have_text("general")
    # After logging in, the message box has the focus.
    expect(page.locator("#text-input")).to_be_focused()

    # The attach button is a button with a name, reached by Tab, and opens the picker.
    attach = page.get_by_role("button", name="Attach an image")
    expect(attach).to_be_visible()
    page.keyboard.press("Shift+Tab")
    expect(attach).to_be_focused()
    page.evaluate("""() => document.querySelector("#file-input").addEventListener(
        "click", () => { window.__picker = (window.__picker || 0) + 1; })""")
    page.keyboard.press("Enter")
    assert page.evaluate("() => window.__picker") == 1  # Enter opens the picker
    with page.expect_file_chooser() as chooser:
        attach.click()
    assert chooser.value is not None


def test_after_logging_out_the_form_is_for_logging_in(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    alice.page.get_by_role("button", name="Log out").click()
    expect(alice.page.locator("#auth-form")).to_be_visible()
    expect(alice.page.get_by_role("tab", name="Log in")).to_have_attribute("aria-selected", "true")
    expect(alice.page.locator("#auth-submit")).to_have_text("Log in")


def test_a_wrong_chat_password_is_kept_to_be_corrected(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    room = unique("closed")
    alice.create_chat(room, password="open sesame")
    bob.chat_button(room).click()
    field = bob.page.locator("#password-input")
    field.fill("open sesame!")
    bob.page.get_by_role("button", name="Join").click()
    expect(bob.page.locator("#password-error")).to_have_text("Wrong password. Please try again.")
    expect(field).to_have_value("open sesame!")
    expect(field).to_be_focused()
    selection = field.evaluate("(input) => [input.selectionStart, input.selectionEnd]")
    assert selection == [0, len("open sesame!")]
    field.press("End")
    field.press("Backspace")
    field.press("Enter")
    expect(bob.page.locator("#chat-name")).to_have_text(room)


GROUPS = """async () => {
  const { MessageView } = await import("/static/messages.js");
  const view = new MessageView(() => false);
  const at = (minutes) => new Date(Date.UTC(2030, 0, 1, 12, minutes)).toISOString();
  view.reset("grouping", "ann", [
    {id: 1, user: "ann", date: at(0), text: "a"},
    {id: 2, user: "ann", date: at(1), text: "b"},
    {id: 3, user: "ANN", date: at(4), text: "c"},
    {id: 4, user: "ann", date: at(10), text: "d"},
    {id: 5, user: "bo", date: at(11), text: "e"},
    {id: 6, user: "ann", date: at(12), text: "f"},
  ]);
  return [...document.querySelectorAll("#message-list .msg")].map(
    (n) => n.classList.contains("continued"));
}"""


def test_consecutive_messages_are_grouped(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    a = unique("alice")
    alice.register(a)
    bob.register(unique("bob"))
    room = unique("groups")
    alice.create_chat(room)
    bob.enter_chat(room)
    for text in ("one", "two", "three"):
        alice.say(text)
    expect(bob.message_with_text("three")).to_have_count(1)
    bob.say("four")
    alice.say("five")
    expect(bob.message_with_text("five")).to_have_count(1)
    rows = bob.messages()
    continued = rows.evaluate_all("(ns) => ns.map((n) => n.classList.contains('continued'))")
    assert continued == [False, True, True, False, False]
    # One name and time over the group: the others take no room (still read out).
    heights = rows.evaluate_all(
        "(ns) => ns.map((n) => n.querySelector('.msg-meta').getBoundingClientRect().height)")
    assert [h > 5 for h in heights] == [True, False, False, True, True]
    expect(rows.nth(1).locator(".msg-user")).to_have_text(a)  # kept in the markup
    # A new group after a gap of more than a few minutes, or when another person writes.
    assert bob.page.evaluate(GROUPS) == [False, True, True, False, False, False]


TARGETS = """() => [...document.querySelectorAll("button, input, textarea, [role=tab]")]
  .filter((n) => n.offsetParent !== null && n.getBoundingClientRect().width > 0)
  .map((n) => {
    const box = n.getBoundingClientRect();
    const style = getComputedStyle(n);
    return {id: n.id || n.className || n.textContent.trim(), tag: n.tagName,
            w: box.width, h: box.height, font: parseFloat(style.fontSize)};
  })"""


def small_targets(person: Person) -> list[str]:
    found = person.page.evaluate(TARGETS)
    return [
        f"{t['id']}: {t['w']:.0f}x{t['h']:.0f}, {t['font']}px" for t in found
        if t["w"] < 44 or t["h"] < 44 or (t["tag"] in ("INPUT", "TEXTAREA") and t["font"] < 16)
    ]


def test_a_phone_gets_targets_for_fingers(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people(viewport={"width": 390, "height": 844})
    expect(alice.page.locator("#auth-form")).to_be_visible()
    assert small_targets(alice) == []
    alice.register(unique("alice"))
    expect(alice.chat_button("general")).to_be_visible()
    assert small_targets(alice) == []
    alice.enter_chat("general")
    alice.say("Thumbs only")
    expect(alice.message_with_text("Thumbs only")).to_have_count(1)
    assert small_targets(alice) == []
    assert alice.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    alice.screenshot("phone-targets")
