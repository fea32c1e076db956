"""Replying, editing, removing and reacting in the web client, as two people see it,
live and after a reconnect; in English and in Russian, on a desktop and a phone."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parley.testing import ServerProcess

from .browser_support import Person, expect
from .test_web_language import register_in_russian

HELLO = "привет с телефона"  # noqa: RUF001
ACTIONS = "Действия с сообщением от {}"  # noqa: RUF001


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, so the tests can read what it stored."""
    process = ServerProcess(tmp_path_factory.mktemp("changes-data")).start()
    try:
        yield process
    finally:
        process.stop()


def stored(server: ServerProcess, chat: str) -> list[tuple[Any, ...]]:
    """(id, text, removed, reply_to, edited) of every message of `chat`, oldest first."""
    assert server.data_dir is not None
    with contextlib.closing(sqlite3.connect(server.data_dir / "parley.db")) as db:
        rows = db.execute(
            "SELECT m.id, m.text, m.removed, m.reply_to, m.edited_ms IS NOT NULL"
            " FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.name = ? ORDER BY m.id",
            (chat,),
        ).fetchall()
    return [(i, text, bool(gone), reply, bool(edited)) for i, text, gone, reply, edited in rows]


def message(person: Person, text: str) -> Any:
    return person.message_with_text(text)


def open_menu(person: Person, text: str) -> Any:
    """Open the menu of the message with `text` by its "⋯" button."""
    node = message(person, text)
    node.hover()
    node.locator(".msg-menu-button").click()
    menu = person.page.locator("#msg-menu")
    expect(menu).to_be_visible()
    return menu


def menu_items(person: Person) -> Any:
    return person.page.locator("#msg-menu > button")


def chips(person: Person, text: str) -> Any:
    return message(person, text).locator(".reaction")


def pair(
    people: Callable[..., Person],
    server: ServerProcess,
    unique: Callable[[str], str],
    **options: Any,
) -> tuple[Person, Person, str, str, str]:
    a, b, room = unique("alice"), unique("bob"), unique("room")
    alice = people(url=server.http, **options)
    alice.register(a)
    alice.create_chat(room)
    bob = people(url=server.http)
    bob.register(b)
    bob.enter_chat(room)
    return alice, bob, a, b, room


def test_reply_edit_react_and_remove(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, a, b, room = pair(people, server, unique)
    alice.say("first message")
    bob.say("hello alice")
    expect(message(alice, "hello alice")).to_have_count(1)

    # Reply from the menu: the composer says to whom, the message carries the quote.
    open_menu(alice, "hello alice")
    # Alice owns the chat: she may remove Bob's message, not edit it (and moderate Bob).
    expect(menu_items(alice)).to_have_text(["Reply", "Remove", f"Moderate {b}…"])
    alice.page.get_by_role("menuitem", name="Reply").click()
    expect(alice.page.locator("#composer-context-text")).to_have_text(
        f"Replying to {b}: hello alice"
    )
    expect(alice.page.locator("#text-input")).to_be_focused()
    alice.say("a reply")
    expect(alice.page.locator("#composer-context")).to_be_hidden()
    for person in (alice, bob):
        quote = message(person, "a reply").locator(".msg-quote")
        expect(quote.locator(".msg-quote-user")).to_have_text(b)
        expect(quote.locator(".msg-quote-text")).to_have_text("hello alice")
    ids = [row[0] for row in stored(server, room)]
    assert stored(server, room) == [
        (ids[0], "first message", False, None, False),
        (ids[1], "hello alice", False, None, False),
        (ids[2], "a reply", False, ids[1], False),
    ]
    # A click on the quote goes to the original and marks it.
    message(bob, "a reply").locator(".msg-quote").click()
    expect(message(bob, "hello alice")).to_have_class(re.compile(r"\bhighlight\b"))

    # Editing from the menu: the text goes into the box; Enter saves it.
    open_menu(alice, "first message")
    expect(menu_items(alice)).to_have_text(["Reply", "Edit", "Remove"])
    alice.page.get_by_role("menuitem", name="Edit").click()
    box = alice.page.locator("#text-input")
    expect(box).to_have_value("first message")
    expect(alice.page.locator("#composer-context-text")).to_have_text(
        "Editing your message: Enter saves, Esc cancels."
    )
    alice.say("first message, fixed")
    for person in (alice, bob):
        edited = message(person, "first message, fixed").locator(".msg-edited")
        expect(edited).to_have_text("edited")
        expect(edited).to_have_attribute("title", re.compile(r"^Edited \S"))
    expect(message(bob, "first message")).to_have_count(0)

    # The up arrow in the empty box edits one's last message; Esc gives up, nothing changes.
    box.press("ArrowUp")
    expect(box).to_have_value("a reply")
    box.press("Escape")
    expect(box).to_have_value("")
    expect(alice.page.locator("#composer-context")).to_be_hidden()
    box.press("ArrowUp")
    alice.say("a reply, edited")
    expect(message(bob, "a reply, edited").locator(".msg-edited")).to_have_text("edited")

    # Bob edits the original: the quote of it follows, live.
    bob.page.locator("#text-input").press("ArrowUp")
    bob.say("hello alice!")
    quote = message(alice, "a reply, edited").locator(".msg-quote-text")
    expect(quote).to_have_text("hello alice!")

    # Reacting: a chip with a count, one's own highlighted, a click toggles it.
    open_menu(bob, "first message, fixed")
    expect(menu_items(bob)).to_have_text(["Reply"])
    bob.page.get_by_role("menuitem", name="React with 👍").click()
    expect(chips(alice, "first message, fixed")).to_have_text(["👍1"])
    expect(chips(bob, "first message, fixed")).to_have_attribute("aria-pressed", "true")
    expect(chips(alice, "first message, fixed")).to_have_attribute("aria-pressed", "false")
    chips(alice, "first message, fixed").click()
    for person in (alice, bob):
        expect(chips(person, "first message, fixed")).to_have_text(["👍2"])
        expect(chips(person, "first message, fixed")).to_have_attribute(
            "title", f"👍 from {b}, {a}"
        )
    expect(chips(alice, "first message, fixed")).to_have_class("reaction mine")
    chips(bob, "first message, fixed").click()
    expect(chips(alice, "first message, fixed")).to_have_attribute("title", f"👍 from {a}")
    chips(alice, "first message, fixed").click()
    expect(chips(bob, "first message, fixed")).to_have_count(0)
    expect(chips(alice, "first message, fixed")).to_have_count(0)
    # The emoji used last comes first in the picker next time.
    open_menu(alice, "a reply, edited")
    alice.page.get_by_role("menuitem", name="React with 🎉").click()
    expect(chips(bob, "a reply, edited")).to_have_text(["🎉1"])
    open_menu(alice, "a reply, edited")
    expect(alice.page.locator("#msg-menu .msg-menu-emoji button").first).to_have_text("🎉")
    alice.page.keyboard.press("Escape")
    expect(alice.page.locator("#msg-menu")).to_be_hidden()

    # Removing needs a confirmation: dismissed, nothing happens.
    bob.page.once("dialog", lambda dialog: dialog.dismiss())
    open_menu(bob, "hello alice!")
    bob.page.get_by_role("menuitem", name="Remove").click()
    expect(bob.page.locator("#msg-menu")).to_be_hidden()
    assert stored(server, room)[1][2] is False
    # The chat's owner removes Bob's message: a tombstone for both, and in the quote.
    alice.page.once("dialog", lambda dialog: dialog.accept())
    open_menu(alice, "hello alice!")
    alice.page.get_by_role("menuitem", name="Remove").click()
    for person in (alice, bob):
        removed = person.page.locator(f'#message-list .msg[data-id="{ids[1]}"]')
        expect(removed).to_have_class(re.compile(r"\bremoved\b"))
        expect(removed.locator(".msg-text")).to_have_text("Message removed")
        expect(removed.locator(".msg-menu-button")).to_have_count(0)
        quote = message(person, "a reply, edited").locator(".msg-quote")
        expect(quote).to_have_text("Message removed")
    alice.screenshot("changes-desktop")
    assert stored(server, room) == [
        (ids[0], "first message, fixed", False, None, True),
        (ids[1], None, True, None, True),
        (ids[2], "a reply, edited", False, ids[1], True),
    ]


def test_a_reply_to_a_message_removed_meanwhile_keeps_the_text(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, _, _, room = pair(people, server, unique)
    alice.say("soon gone")
    open_menu(bob, "soon gone")
    bob.page.get_by_role("menuitem", name="Reply").click()
    alice.page.once("dialog", lambda dialog: dialog.accept())
    open_menu(alice, "soon gone")
    alice.page.get_by_role("menuitem", name="Remove").click()
    expect(bob.page.locator("#message-list .msg.removed")).to_have_count(1)
    bob.say("too late")
    expect(bob.page.locator("#composer-error")).to_have_text(
        "The message you are replying to no longer exists. Your text is kept."
    )
    expect(bob.page.locator("#text-input")).to_have_value("too late")
    assert [row[1] for row in stored(server, room)] == [None]


def test_changes_made_while_away_show_after_the_reconnect(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, a, _, room = pair(people, server, unique)
    for text in ("one", "two", "three"):
        alice.say(text)
    expect(message(bob, "three")).to_have_count(1)

    bob.page.context.set_offline(True)
    bob.cut_connection()
    expect(bob.page.locator("#banner")).to_be_visible()
    # While Bob is away: an edit, a reaction, a removal, and a new message.
    open_menu(alice, "one")
    alice.page.get_by_role("menuitem", name="Edit").click()
    alice.say("one, edited")
    open_menu(alice, "two")
    alice.page.get_by_role("menuitem", name="React with 👀").click()
    expect(chips(alice, "two")).to_have_text(["👀1"])
    alice.page.once("dialog", lambda dialog: dialog.accept())
    open_menu(alice, "three")
    alice.page.get_by_role("menuitem", name="Remove").click()
    expect(alice.page.locator("#message-list .msg.removed")).to_have_count(1)
    alice.say("four")
    expect(message(bob, "one")).to_have_count(1)  # not seen yet

    bob.page.context.set_offline(False)
    expect(bob.page.locator("#banner")).to_be_hidden()
    expect(message(bob, "four")).to_have_count(1)
    expect(message(bob, "one, edited").locator(".msg-edited")).to_have_text("edited")
    expect(chips(bob, "two")).to_have_attribute("title", f"👀 from {a}")
    tombstones = bob.page.locator("#message-list .msg.removed .msg-text")
    expect(tombstones).to_have_text(["Message removed"])
    expect(bob.page.locator("#message-list .msg-text")).to_have_text(
        ["one, edited", "two", "Message removed", "four"]
    )
    assert [row[1] for row in stored(server, room)] == ["one, edited", "two", None, "four"]


def test_the_menu_on_a_phone_in_russian(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    a, b, room = unique("alice"), unique("bob"), unique("room")
    bob = people(url=server.http)
    bob.register(b)
    bob.create_chat(room)
    alice = people(url=server.http, viewport={"width": 390, "height": 844}, locale="ru-RU")
    register_in_russian(alice, a)
    alice.enter_chat(room)
    bob.say(HELLO)
    page = alice.page
    node = message(alice, HELLO)
    page.get_by_role("button", name=ACTIONS.format(b)).click()
    # Not her message, not her chat: she may reply and react only.
    expect(menu_items(alice)).to_have_text(["Ответить"])
    box = page.locator("#msg-menu").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    alice.screenshot("changes-phone-menu-ru")
    page.get_by_role("menuitem", name="Отреагировать: ❤️").click()
    expect(node.locator(".reaction")).to_have_attribute("title", f"❤️ от {a}")
    expect(chips(bob, HELLO)).to_have_text(["❤️1"])
    # A long press on the message opens the menu too.
    node.locator(".msg-text").dispatch_event(
        "pointerdown", {"pointerType": "touch", "bubbles": True}
    )
    page.get_by_role("menuitem", name="Ответить").click()
    expect(page.locator("#composer-context-text")).to_have_text(f"Ответ пользователю {b}: {HELLO}")
    page.get_by_role("button", name="Отменить").click()
    expect(page.locator("#composer-context")).to_be_hidden()
    alice.say("моё сообщение")
    expect(message(alice, "моё сообщение")).to_have_count(1)
    page.locator("#text-input").press("ArrowUp")
    expect(page.locator("#composer-context-text")).to_have_text(
        "Редактирование сообщения: Enter — сохранить, Esc — отменить."
    )
    alice.say("моё сообщение, исправленное")
    edited = message(alice, "моё сообщение, исправленное").locator(".msg-edited")
    expect(edited).to_have_text("изменено")
    expect(edited).to_have_attribute("title", re.compile(r"^Изменено \S"))
    at_bob = message(bob, "моё сообщение, исправленное").locator(".msg-edited")
    expect(at_bob).to_have_text("edited")
    alice.screenshot("changes-phone-ru")


def test_the_menu_by_keyboard(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, a, _, _ = pair(people, server, unique)
    bob.say("press keys")
    page = alice.page
    opener = message(alice, "press keys").locator(".msg-menu-button")
    opener.focus()
    page.keyboard.press("Enter")
    expect(opener).to_have_attribute("aria-expanded", "true")
    emoji = page.locator("#msg-menu .msg-menu-emoji button")
    expect(emoji.first).to_be_focused()
    # the arrows go through the emoji, then the items; Enter picks one
    for _ in range(emoji.count()):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("menuitem", name="Reply")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    expect(chips(bob, "press keys")).to_have_count(1)
    expect(chips(bob, "press keys")).to_have_attribute("title", re.compile(f" from {a}$"))
    # Escape closes the menu and gives the focus back to its button
    opener.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#msg-menu")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#msg-menu")).to_be_hidden()
    expect(opener).to_be_focused()
    expect(opener).to_have_attribute("aria-expanded", "false")


def test_a_message_removed_while_being_edited_keeps_the_text(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    # Bob owns the chat here: he may remove Alice's message while she edits it.
    b, a, room = unique("bob"), unique("alice"), unique("room")
    bob = people(url=server.http)
    bob.register(b)
    bob.create_chat(room)
    alice = people(url=server.http)
    alice.register(a)
    alice.enter_chat(room)
    alice.say("typo here")
    expect(message(alice, "typo here")).to_have_count(1)  # stored: the up arrow edits it
    box = alice.page.locator("#text-input")
    box.press("ArrowUp")
    expect(box).to_have_value("typo here")
    box.fill("no typo here")
    bob.page.once("dialog", lambda dialog: dialog.accept())
    open_menu(bob, "typo here")
    bob.page.get_by_role("menuitem", name="Remove").click()
    expect(alice.page.locator("#message-list .msg.removed")).to_have_count(1)
    expect(alice.page.locator("#composer-context")).to_be_hidden()
    expect(alice.page.locator("#composer-error")).to_have_text("That message no longer exists.")
    expect(box).to_have_value("no typo here")
    # Enter now sends it as a new message.
    box.press("Enter")
    expect(message(bob, "no typo here")).to_have_count(1)
    expect(message(bob, "no typo here").locator(".msg-edited")).to_have_count(0)
    assert [row[1:3] for row in stored(server, room)] == [(None, True), ("no typo here", False)]


def test_a_quote_goes_to_an_original_older_than_the_page(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, _, b, _ = pair(people, server, unique)
    bob.say("the original")
    for n in range(35):
        bob.say(f"later {n}")
    expect(message(alice, "later 34")).to_have_count(1)
    open_menu(alice, "the original")
    alice.page.get_by_role("menuitem", name="Reply").click()
    alice.say("about that")
    expect(message(alice, "about that")).to_have_count(1)
    # After a reload only the newest 30 are shown: the original is further back.
    alice.page.reload()
    expect(message(alice, "about that")).to_have_count(1)
    expect(message(alice, "the original")).to_have_count(0)
    quote = message(alice, "about that").locator(".msg-quote")
    expect(quote.locator(".msg-quote-user")).to_have_text(b)
    quote.click()
    original = message(alice, "the original")
    expect(original).to_have_class(re.compile(r"\bhighlight\b"))
    expect(original).to_be_in_viewport()


def test_a_reaction_to_a_message_removed_meanwhile_is_refused_in_words(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, bob, _, _, room = pair(people, server, unique)
    alice.say("short lived")
    open_menu(bob, "short lived")  # Bob's menu is open while Alice removes the message
    alice.page.once("dialog", lambda dialog: dialog.accept())
    open_menu(alice, "short lived")
    alice.page.get_by_role("menuitem", name="Remove").click()
    expect(bob.page.locator("#message-list .msg.removed")).to_have_count(1)
    bob.page.get_by_role("menuitem", name="React with 👍").click()
    expect(bob.page.locator("#toasts .toast-error")).to_contain_text(
        "That message no longer exists."
    )
    expect(bob.page.locator("#message-list .reaction")).to_have_count(0)
    assert [row[1:3] for row in stored(server, room)] == [(None, True)]
