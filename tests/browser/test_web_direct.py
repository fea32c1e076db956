"""Direct chats in the web client: started from the dialog by a login prefix or from
the online list, listed apart from the rooms under the other members' names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .browser_support import Person, expect
from .test_web_conversation import small_targets


def direct_button(person: Person, chat: str) -> Any:
    return person.page.locator(f'#direct-list .chat-item[data-chat="{chat}"]')


def direct_name(*logins: str) -> str:
    return "@" + ",".join(sorted(logins, key=str.casefold))


def start_direct_by_prefix(person: Person, prefix: str, login: str) -> None:
    page = person.page
    page.get_by_role("button", name="New direct message").click()
    expect(page.locator("#direct-dialog")).to_be_visible()
    page.fill("#direct-search", prefix)
    page.locator(f'#direct-results .direct-result[data-login="{login}"]').click()
    expect(page.locator("#direct-picked .direct-chip")).to_have_text([f"{login} \u00d7"])
    person.screenshot("direct-dialog")
    page.locator("#direct-submit").click()
    expect(page.locator("#direct-dialog")).to_be_hidden()


def test_two_people_write_directly(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    chat = direct_name(a, b)

    # alice finds bob by the start of his login, and the chat opens, named after him.
    # Any case; the login names one person (names made before it never extend it).
    start_direct_by_prefix(alice, b.upper(), b)
    expect(alice.page.locator("#chat-name")).to_have_text(b)
    expect(direct_button(alice, chat)).to_have_text(b[0].upper() + b)
    expect(direct_button(alice, chat)).to_have_attribute("aria-current", "true")
    expect(alice.chat_button(chat)).to_have_count(0)  # not among the rooms
    alice.say("hi bob, directly")

    # bob sees it appear in his list, under alice's name, with one unread message.
    expect(direct_button(bob, chat).locator(".chat-item-name")).to_have_text(a)
    expect(direct_button(bob, chat).locator(".badge-unread")).to_have_text("1")
    expect(bob.page.locator("#direct-list")).to_be_visible()
    expect(bob.page.locator(".list-heading")).to_have_text(["Rooms", "Direct messages"])
    direct_button(bob, chat).click()
    expect(bob.page.locator("#chat-name")).to_have_text(a)
    expect(bob.message_with_text("hi bob, directly")).to_have_count(1)
    expect(direct_button(bob, chat).locator(".badge")).to_have_count(0)
    bob.say("hi alice")
    expect(alice.message_with_text("hi alice")).to_have_count(1)

    # From the online list of a room: a name opens the direct chat with that person.
    room = unique("room")
    alice.create_chat(room)
    bob.enter_chat(room)
    online_alice = bob.page.locator(f'#online-list .online-name[data-user="{a}"]')
    expect(online_alice).to_be_visible()
    online_alice.click()
    expect(bob.page.locator("#chat-name")).to_have_text(a)
    expect(bob.page.locator("#message-list .msg-text")).to_have_text(
        ["hi bob, directly", "hi alice"])
    expect(direct_button(bob, chat)).to_have_attribute("aria-current", "true")
    bob.screenshot("direct-chat")
    alice.screenshot("direct-chat-other-side")


def test_a_direct_chat_with_nobody_says_who_is_missing(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    a = unique("alice")
    alice.register(a)
    page = alice.page
    page.get_by_role("button", name="New direct message").click()
    nobody = unique("nobody")
    page.fill("#direct-search", nobody)
    expect(page.locator("#direct-results li")).to_have_text(
        [f"Nobody\u2019s name starts with “{nobody}”."])
    page.locator("#direct-submit").click()
    expect(page.locator("#direct-error")).to_have_text(f"There is no user “{nobody}”.")
    expect(page.locator("#direct-dialog")).to_be_visible()
    expect(page.locator("#chat-name")).to_have_text("general")

    # One's own login is not offered; typed anyway, the server's reason is shown.
    page.locator("#direct-picked .direct-chip").click()
    expect(page.locator("#direct-picked")).to_be_hidden()
    page.fill("#direct-search", a)
    expect(page.locator("#direct-results li")).to_have_text(["That is you: look for someone else."])
    page.locator("#direct-search").press("Enter")
    expect(page.locator("#direct-error")).to_have_text(
        "Could not open the direct chat (With names the other members, not yourself).")
    expect(page.locator("#chat-name")).to_have_text("general")


def test_a_direct_chat_and_its_badge_on_a_phone(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    phone = {"width": 390, "height": 844}
    alice, bob = people(viewport=phone), people(viewport=phone)
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    chat = direct_name(a, b)
    new_direct = alice.page.get_by_role("button", name="New direct message")
    box = new_direct.bounding_box()
    assert box is not None
    assert box["width"] >= 44
    assert box["height"] >= 44
    # The dialog, with a person found and picked: every target is big enough for a finger.
    new_direct.click()
    alice.page.fill("#direct-search", b)
    alice.page.locator(f'#direct-results .direct-result[data-login="{b}"]').click()
    expect(alice.page.locator("#direct-picked .direct-chip")).to_have_count(1)
    assert small_targets(alice) == []
    alice.screenshot("direct-phone-dialog")
    alice.page.locator("#direct-submit").click()
    expect(alice.page.locator("#chat-name")).to_be_visible()
    expect(alice.page.locator("#chat-name")).to_have_text(b)
    font = alice.page.locator("#text-input").evaluate("(e) => getComputedStyle(e).fontSize")
    assert font == "16px"
    alice.say("on the phone")

    # bob is in the list view: the chat shows with its badge; inside another chat,
    # the back button carries the count of what waits elsewhere.
    expect(direct_button(bob, chat).locator(".badge-unread")).to_have_text("1")
    bob.screenshot("direct-phone-list")
    # general, on the server the browser tests share, holds earlier tests' messages,
    # all unread for a new member (a pointer starts at 0) and counted by the back
    # button too: bob reads it first, then goes into a room of his own
    bob.enter_chat("general")
    expect(bob.chat_button("general").locator(".badge")).to_have_count(0)
    bob.page.locator("#back").click()
    bob.create_chat(unique("room"))
    expect(bob.page.locator("#back .badge-unread")).to_have_text("1")
    bob.page.locator("#back").click()
    direct_button(bob, chat).click()
    expect(bob.message_with_text("on the phone")).to_have_count(1)
    # read once on screen: the chat's own badge goes (the back button's count is of the
    # other chats, which on the shared server may get messages from elsewhere)
    expect(direct_button(bob, chat).locator(".badge")).to_have_count(0)
    bob.screenshot("direct-phone-chat")
