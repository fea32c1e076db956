"""Unread counts in the web client: badges (and a mention badge) on the chat list, the
count in the tab's title, the "New messages" divider, and who is typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .browser_support import Person, expect

LISTEN = """() => {
  window.__sent = [];
  for (const s of window.__sockets) {
    const send = s.send.bind(s);
    s.send = (data) => { window.__sent.push(JSON.parse(data)); send(data); };
  }
}"""


def sent(person: Person, command: str) -> list[dict[str, Any]]:
    frames = person.page.evaluate("() => window.__sent")
    return [f for f in frames if f.get("Command") == command]


def badge(person: Person, chat: str, kind: str) -> Any:
    return person.chat_button(chat).locator(f".badge-{kind}")


def test_badges_and_the_title_follow_what_is_unread(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    room = unique("room")
    alice.create_chat(room)
    bob.enter_chat(room)
    bob.enter_chat("general")
    expect(bob.page).to_have_title("general · Parley")
    bob.page.evaluate(LISTEN)

    alice.say("first news")
    alice.say(f"and a question for @{b}, please")
    expect(badge(bob, room, "unread")).to_have_text("2")
    expect(badge(bob, room, "unread")).to_have_attribute("title", "2 unread messages")
    expect(badge(bob, room, "mention")).to_have_text("@")
    expect(badge(bob, room, "mention")).to_have_attribute("title", "1 mention of you")
    expect(bob.page).to_have_title("(2) general · Parley")
    bob.screenshot("unread-badges")

    bob.enter_chat(room)
    expect(bob.page.locator("#message-list > li:not(.day-separator)")).to_have_count(3)
    divider = bob.page.locator("#message-list .unread-divider")
    expect(divider).to_have_text("New messages")
    # The divider stands just above the first unread message.
    after = divider.evaluate("(d) => d.nextElementSibling.querySelector('.msg-text').textContent")
    assert after == "first news"
    expect(bob.chat_button(room).locator(".badge")).to_have_count(0)
    expect(bob.page).to_have_title(f"{room} · Parley")
    reads = [f for f in sent(bob, "read") if f["Chat"] == room]
    assert reads == [{"Type": "chat", "Command": "read", "Chat": room, "Id": 2}]
    bob.screenshot("unread-divider")

    # Read in another tab of bob's: this tab's badge goes too.
    bob.enter_chat("general")
    alice.say("one more")
    expect(badge(bob, room, "unread")).to_have_text("1")
    expect(bob.chat_button(room).locator(".badge-mention")).to_have_count(0)
    expect(bob.page).to_have_title("(1) general · Parley")
    other = bob.page.context.new_page()
    other.goto(bob.base_url + "/")
    expect(other.locator("#me-name")).to_have_text(b)
    other.locator(f'#chat-list .chat-item[data-chat="{room}"]').click()
    expect(other.locator("#message-list .msg-text")).to_have_count(3)
    expect(bob.chat_button(room).locator(".badge")).to_have_count(0)
    expect(bob.page).to_have_title("general · Parley")
    other.close()


def pause_clock(person: Person) -> None:
    """From now on the page's timers and Date.now move only when the test runs them."""
    person.page.clock.pause_at(person.page.evaluate("() => Date.now()") + 10)


def test_the_typing_line(people: Callable[..., Person], unique: Callable[[str], str]) -> None:
    alice, bob, carol, dave, eve = people(), people(), people(), people(), people()
    # alice's and bob's timers are Playwright's: the test runs out the 5 s a name stays
    # and the 2 s between two `typing` requests, instead of waiting for them.
    for person in (alice, bob):
        person.page.clock.install()
        person.page.reload()
    a, b, c, d, e = (unique(n) for n in ("alice", "bob", "carol", "dave", "eve"))
    for person, name in ((alice, a), (bob, b), (carol, c), (dave, d), (eve, e)):
        person.register(name)
    room = unique("typing")
    alice.create_chat(room)
    for person in (bob, carol, dave, eve):
        person.enter_chat(room)
    expect(alice.page.locator("#online-list li")).to_have_count(5)
    bob.page.evaluate(LISTEN)
    alice.page.evaluate(LISTEN)
    line = alice.page.locator("#typing-line")
    expect(line).to_have_text("")
    pause_clock(alice)
    pause_clock(bob)

    bob.page.locator("#text-input").press_sequentially("hel")
    expect(line).to_have_text(f"{b} is typing…")
    # Three keys within 2 s: one `typing` request.
    assert sent(bob, "typing") == [{"Type": "chat", "Command": "typing"}]
    carol.page.locator("#text-input").press_sequentially("x")
    expect(line).to_have_text(f"{b} and {c} are typing…")
    alice.screenshot("typing-two")
    eve.page.locator("#text-input").press_sequentially("y")
    expect(line).to_have_text(f"{b}, {c} and 1 other are typing…")
    bob.page.clock.run_for(2000)
    bob.page.locator("#text-input").press_sequentially("lo")
    assert sent(bob, "typing") == [{"Type": "chat", "Command": "typing"}] * 2

    # carol's message takes her name off at once; the others stay for their 5 s.
    carol.page.locator("#text-input").press("Enter")
    expect(alice.message_with_text("x")).to_have_count(1)
    expect(line).to_have_text(f"{b} and {e} are typing…")
    alice.page.clock.run_for(4900)
    expect(line).to_have_text(f"{b} and {e} are typing…")
    alice.page.clock.run_for(200)
    expect(line).to_have_text("")
    assert sent(alice, "typing") == []  # alice did not type

    # Another chat: the line is cleared, and does not come back.
    dave.page.locator("#text-input").press_sequentially("d")
    expect(line).to_have_text(f"{d} is typing…")
    alice.enter_chat("general")
    expect(line).to_have_text("")
    alice.enter_chat(room)
    expect(alice.message_with_text("x")).to_have_count(1)
    expect(line).to_have_text("")


def test_badges_and_headings_in_russian(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    bob.page.evaluate("() => localStorage.setItem('parley_language', 'ru')")
    bob.page.reload()
    expect(bob.page.locator(".list-heading")).to_have_text(["Комнаты", "Личные сообщения"])
    expect(bob.page.locator("#direct-list")).to_have_text("Личных сообщений пока нет.")
    room = unique("room")
    alice.create_chat(room)
    bob.enter_chat(room)
    bob.enter_chat("general")
    for text in ("раз", "два", f"@{b}, три", "четыре", "пять"):
        alice.say(text)
    expect(badge(bob, room, "unread")).to_have_text("5")
    expect(badge(bob, room, "unread")).to_have_attribute("title", "5 непрочитанных сообщений")
    expect(badge(bob, room, "mention")).to_have_attribute("title", "1 упоминание вас")
    bob.enter_chat(room)
    expect(bob.page.locator("#message-list .unread-divider")).to_have_text("Новые сообщения")
    bob.screenshot("unread-ru")
