"""Moderation in the web client, as the owner, a moderator and the members see it: the
menu on a member's name (online list and messages), a ban that closes the chat, a mute
that keeps the text in the box and stores nothing, and the list of moderators."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parley.testing import ServerProcess

from .browser_support import DOC_SCREENSHOTS, Person, expect, stored_texts
from .test_web_language import register_in_russian

BANNED_RU = "Вас заблокировали в чате «{}»."  # noqa: RUF001
REFUSED_RU = "Не удалось открыть чат «{}»: вас в нём заблокировали."  # noqa: RUF001
OWNER_ITEMS = [
    "Ban for 1 hour",
    "Ban for 1 day",
    "Ban for good",
    "Mute for 10 minutes",
    "Mute for 1 hour",
    "Mute for 1 day",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, so the tests can read what it stored."""
    process = ServerProcess(tmp_path_factory.mktemp("moderation-data")).start()
    try:
        yield process
    finally:
        process.stop()


def query(server: ServerProcess, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    assert server.data_dir is not None
    with contextlib.closing(sqlite3.connect(server.data_dir / "parley.db")) as db:
        return db.execute(sql, args).fetchall()


def sanctions(server: ServerProcess, chat: str) -> list[tuple[str, str, int | None]]:
    """(login, kind, until_ms) of every ban and mute in `chat`."""
    rows = query(
        server,
        "SELECT u.login, s.kind, s.until_ms FROM sanctions s JOIN users u ON u.id = s.user_id"
        " JOIN chats c ON c.id = s.chat_id WHERE c.name = ? ORDER BY u.login, s.kind",
        chat,
    )
    return [(login, kind, until) for login, kind, until in rows]


def moderators(server: ServerProcess, chat: str) -> list[str]:
    rows = query(
        server,
        "SELECT u.login FROM moderators m JOIN users u ON u.id = m.user_id"
        " JOIN chats c ON c.id = m.chat_id WHERE c.name = ? ORDER BY u.login",
        chat,
    )
    return [login for (login,) in rows]


def is_member(server: ServerProcess, chat: str, login: str) -> bool:
    rows = query(
        server,
        "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id JOIN chats c ON c.id = m.chat_id"
        " WHERE c.name = ? AND u.login = ?",
        chat,
        login,
    )
    return rows != []


def online_name(person: Person, login: str) -> Any:
    return person.page.locator(f'#online-list .online-name[data-user="{login}"]')


def role_badge(person: Person, login: str) -> Any:
    name = person.page.locator(f'.online-name[data-user="{login}"]')
    return person.page.locator("#online-list .online-user").filter(has=name).locator(".role-badge")


def menu(person: Person) -> Any:
    return person.page.locator("#msg-menu")


def menu_items(person: Person) -> Any:
    return person.page.locator("#msg-menu > button")


def open_online_menu(person: Person, login: str) -> Any:
    online_name(person, login).click()
    expect(menu(person)).to_be_visible()
    return menu_items(person)


def author_name(person: Person, text: str) -> Any:
    return person.message_with_text(text).locator(".msg-user")


def toast(person: Person, kind: str, text: str) -> None:
    expect(person.page.locator(f"#toasts .toast-{kind}").filter(has_text=text)).to_have_count(1)


def room_with(
    people: Callable[..., Person],
    server: ServerProcess,
    unique: Callable[[str], str],
    *others: str,
) -> tuple[Person, str, list[tuple[Person, str]], str]:
    """An owner in a new room, and each of `others` in it too, all seen online by the owner."""
    owner_name, room = unique("owner"), unique("room")
    owner = people(url=server.http)
    owner.register(owner_name)
    owner.create_chat(room)
    joined = []
    for base in others:
        name = unique(base)
        person = people(url=server.http)
        person.register(name)
        person.enter_chat(room)
        expect(online_name(owner, name)).to_be_visible()
        joined.append((person, name))
    return owner, owner_name, joined, room


def test_an_owner_bans_a_member_for_an_hour_from_their_name(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, a, [(bob, b)], room = room_with(people, server, unique, "bob")
    expect(alice.page.locator("#moderator-list li")).to_have_text(["None yet"])
    # Nothing on one's own name.
    online_name(alice, a).click()
    expect(menu(alice)).to_be_hidden()

    items = open_online_menu(alice, b)
    expect(items).to_have_text([f"Write to {b} directly", *OWNER_ITEMS, "Make moderator"])
    expect(menu(alice)).to_have_attribute("aria-label", f"Actions for {b}")
    before = int(time.time() * 1000)
    items.filter(has_text="Ban for 1 hour").click()
    expect(menu(alice)).to_be_hidden()
    toast(alice, "ok", f"{b} is banned from “{room}” for 1 hour.")

    # The banned person's page says so, and the chat is closed.
    toast(bob, "error", f"You were banned from “{room}”.")
    expect(bob.page.locator("#chat-name")).to_have_text("Choose a chat")
    expect(bob.page.locator("#composer")).to_be_hidden()
    expect(bob.page.locator("#message-list .msg")).to_have_count(0)
    after = int(time.time() * 1000)
    [(login, kind, until)] = sanctions(server, room)
    assert (login, kind) == (b, "ban")
    assert until is not None
    assert before + 3_600_000 - 5_000 <= until <= after + 3_600_000 + 5_000
    assert not is_member(server, room, b)
    expect(online_name(alice, b)).to_have_count(0)

    # Choosing it again is refused, and the page says why (not a password prompt).
    bob.chat_button(room).click()
    toast(bob, "error", f"You cannot open “{room}”: you are banned from it.")
    expect(bob.page.locator("#password-dialog")).to_be_hidden()
    expect(bob.page.locator("#chat-name")).to_have_text("Choose a chat")

    # After a reload the page no longer remembers the ban; an open room still explains it.
    bob.page.reload()
    expect(bob.page.locator("#me-name")).to_have_text(b)
    bob.chat_button(room).click()
    toast(bob, "error", f"You cannot open “{room}”: you are banned from it.")
    expect(bob.page.locator("#chat-name")).not_to_have_text(room)


def test_a_ban_from_a_closed_chat_is_said_in_its_password_dialog(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    a, b, room = unique("alice"), unique("bob"), unique("secret")
    alice = people(url=server.http)
    alice.register(a)
    alice.create_chat(room, password="open sesame")
    bob = people(url=server.http)
    bob.register(b)
    bob.chat_button(room).click()
    bob.page.fill("#password-input", "open sesame")
    bob.page.get_by_role("button", name="Join").click()
    expect(bob.page.locator("#chat-name")).to_have_text(room)
    expect(online_name(alice, b)).to_be_visible()

    open_online_menu(alice, b).filter(has_text="Ban for 1 hour").click()
    toast(alice, "ok", f"{b} is banned from “{room}” for 1 hour.")
    toast(bob, "error", f"You were banned from “{room}”.")
    expect(bob.page.locator("#chat-name")).to_have_text("Choose a chat")
    assert not is_member(server, room, b)

    # The refusal of a closed chat is the same for a ban and a wrong password: the dialog
    # says both, and the right password is refused while the ban holds.
    bob.chat_button(room).click()
    dialog = bob.page.locator("#password-dialog")
    expect(dialog).to_be_visible()
    note = f"You were banned from “{room}”. Once the ban has ended, its password lets you in again."
    expect(bob.page.locator("#password-error")).to_have_text(note)
    bob.page.fill("#password-input", "open sesame")
    bob.page.get_by_role("button", name="Join").click()
    # (sending clears the note: it is back with the answer)
    expect(bob.page.locator("#password-error")).to_have_text(note)
    expect(dialog).to_be_visible()
    expect(bob.page.locator("#chat-name")).to_have_text("Choose a chat")
    assert not is_member(server, room, b)


def test_an_owner_mutes_a_member_from_a_message_and_nothing_they_send_is_stored(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, _, [(bob, b)], room = room_with(people, server, unique, "bob")
    bob.say("hello before")
    expect(alice.message_with_text("hello before")).to_have_count(1)
    alice.say("welcome")
    expect(bob.message_with_text("welcome")).to_have_count(1)

    # The member has no menu on names; a click on the owner's name in a message does nothing.
    author_name(bob, "welcome").click()
    expect(menu(bob)).to_be_hidden()

    author_name(alice, "hello before").click()
    expect(menu(alice)).to_be_visible()
    expect(menu_items(alice)).to_have_text([*OWNER_ITEMS, "Make moderator"])
    menu_items(alice).filter(has_text="Mute for 10 minutes").click()
    toast(alice, "ok", f"{b} is muted in “{room}” for 10 minutes.")
    [(login, kind, until)] = sanctions(server, room)
    assert (login, kind) == (b, "mute")
    assert until is not None

    bob.say("am I muted?")
    error = bob.page.locator("#composer-error")
    expect(error).to_have_text(
        "You are muted in this chat. Your message was not sent; it is still in the box."
    )
    expect(bob.page.locator("#text-input")).to_have_value("am I muted?")
    expect(bob.page.locator("#unsent-list .msg")).to_have_count(0)
    # Still in the chat, and still a member: a mute is no ban.
    expect(bob.page.locator("#chat-name")).to_have_text(room)
    assert is_member(server, room, b)

    # What the server has: nothing of the muted message, as another person's history shows.
    alice.say("after the mute")
    expect(bob.message_with_text("after the mute")).to_have_count(1)
    assert server.data_dir is not None
    assert stored_texts(server.data_dir, room) == ["hello before", "welcome", "after the mute"]
    carol = people(url=server.http)
    carol.register(unique("carol"))
    carol.enter_chat(room)
    expect(carol.page.locator("#message-list .msg-text")).to_have_text(
        ["hello before", "welcome", "after the mute"]
    )
    expect(alice.message_with_text("am I muted?")).to_have_count(0)


def test_an_owner_makes_a_moderator_who_then_moderates_and_is_listed(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    alice, a, [(bob, b), (carol, c)], room = room_with(people, server, unique, "bob", "carol")
    alice.say("house rules")
    expect(bob.message_with_text("house rules")).to_have_count(1)

    open_online_menu(alice, b).filter(has_text="Make moderator").click()
    toast(alice, "ok", f"{b} is now a moderator of “{room}”.")
    expect(alice.page.locator("#moderator-list li")).to_have_text([b])
    expect(role_badge(alice, b)).to_have_text("moderator")
    expect(role_badge(alice, a)).to_have_count(0)
    expect(role_badge(alice, c)).to_have_count(0)
    assert moderators(server, room) == [b]

    # The new moderator is told, and gets the menu: ban and mute, not appointing.
    toast(bob, "info", f"You are now a moderator of “{room}”.")
    expect(bob.page.locator("#moderator-list li")).to_have_text([b])
    items = open_online_menu(bob, c)
    expect(items).to_have_text([f"Write to {c} directly", *OWNER_ITEMS])
    bob.page.keyboard.press("Escape")
    expect(menu(bob)).to_be_hidden()
    # Not on the owner's name.
    author_name(bob, "house rules").click()
    expect(menu(bob)).to_be_hidden()
    # The owner's "⋯" menu of a message by carol leads there too, for keyboard use.
    carol.say("hi all")
    node = alice.message_with_text("hi all")
    node.hover()
    node.locator(".msg-menu-button").click()
    expect(menu_items(alice)).to_have_text(["Reply", "Remove", f"Moderate {c}…"])
    alice.page.keyboard.press("ArrowUp")  # from the first emoji round to the last item
    expect(menu_items(alice).nth(2)).to_be_focused()
    alice.page.keyboard.press("Enter")
    expect(menu_items(alice)).to_have_text([*OWNER_ITEMS, "Make moderator"])
    expect(menu(alice)).to_have_attribute("aria-label", f"Actions for {c}")
    expect(menu_items(alice).first).to_be_focused()
    alice.page.keyboard.press("Escape")
    expect(menu(alice)).to_be_hidden()

    # A moderator's mute works, and the member's page says so.
    open_online_menu(bob, c).filter(has_text="Mute for 1 hour").click()
    toast(bob, "ok", f"{c} is muted in “{room}” for 1 hour.")
    carol.say("can I talk?")
    expect(carol.page.locator("#composer-error")).to_contain_text("You are muted in this chat.")

    # Unmade: gone from the list, and the menu goes from bob's page.
    open_online_menu(alice, b).filter(has_text="Remove moderator").click()
    toast(alice, "ok", f"{b} is no longer a moderator of “{room}”.")
    expect(alice.page.locator("#moderator-list li")).to_have_text(["None yet"])
    toast(bob, "info", f"You are no longer a moderator of “{room}”.")
    expect(bob.page.locator("#moderator-list li")).to_have_text(["None yet"])
    assert moderators(server, room) == []
    author_name(bob, "hi all").click()
    expect(menu(bob)).to_be_hidden()

    # A ban takes the role away: the list says so at once.
    open_online_menu(alice, c).filter(has_text="Make moderator").click()
    expect(alice.page.locator("#moderator-list li")).to_have_text([c])
    open_online_menu(alice, c).filter(has_text="Ban for 1 day").click()
    toast(alice, "ok", f"{c} is banned from “{room}” for 1 day.")
    expect(alice.page.locator("#moderator-list li")).to_have_text(["None yet"])
    assert moderators(server, room) == []
    toast(carol, "error", f"You were banned from “{room}”.")


def test_in_russian_the_banned_person_reads_it_in_russian(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    a, b, room = unique("alice"), unique("boris"), unique("room")
    alice = people(url=server.http)
    alice.register(a)
    alice.create_chat(room)
    boris = people(url=server.http, locale="ru-RU")
    register_in_russian(boris, b)
    boris.enter_chat(room)
    expect(online_name(alice, b)).to_be_visible()
    open_online_menu(alice, b).filter(has_text="Ban for good").click()
    toast(alice, "ok", f"{b} is banned from “{room}” for good.")
    toast(boris, "error", BANNED_RU.format(room))
    boris.chat_button(room).click()
    toast(boris, "error", REFUSED_RU.format(room))
    [(login, kind, until)] = sanctions(server, room)
    assert (login, kind, until) == (b, "ban", None)


@pytest.mark.slow
def test_moderation_screenshot(people: Callable[..., Person], own_server: ServerProcess) -> None:
    """The owner's menu on a member's name, with a moderator listed: for docs/protocol.md.

    Always saved to artifacts/screenshots/; with PARLEY_UPDATE_SCREENSHOTS=1 also copied
    over the committed docs/screenshots/moderation-desktop.png."""
    url = own_server.start().http
    alice, bob, carol = people(url=url), people(url=url), people(url=url)
    alice.register("alice")
    alice.create_chat("book-club")
    for person, name in ((bob, "bob"), (carol, "carol")):
        person.register(name)
        person.enter_chat("book-club")
        expect(online_name(alice, name)).to_be_visible()
    alice.say("Welcome! One rule: no spoilers past chapter 3.")
    expect(
        carol.message_with_text("Welcome! One rule: no spoilers past chapter 3.")
    ).to_be_visible()
    carol.say("The butler did it, by the way")
    expect(alice.message_with_text("The butler did it, by the way")).to_be_visible()
    open_online_menu(alice, "bob").filter(has_text="Make moderator").click()
    expect(alice.page.locator("#moderator-list li")).to_have_text(["bob"])
    bob.say("Carol! Chapter 12!")
    expect(alice.message_with_text("Carol! Chapter 12!")).to_be_visible()
    alice.page.locator("#toasts .toast").evaluate_all("(nodes) => nodes.forEach((n) => n.remove())")
    author_name(alice, "The butler did it, by the way").click()
    expect(menu(alice)).to_be_visible()
    shot = alice.screenshot("moderation-desktop")
    if os.environ.get("PARLEY_UPDATE_SCREENSHOTS"):
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOC_SCREENSHOTS / "moderation-desktop.png")


def test_on_a_phone_the_menu_fits_and_the_moderators_show_with_who_is_online(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    phone = {"width": 390, "height": 844}
    a, b, c, room = unique("alice"), unique("bob"), unique("carol"), unique("room")
    alice = people(url=server.http, viewport=phone)
    alice.register(a)
    alice.create_chat(room)
    for name in (b, c):
        person = people(url=server.http)
        person.register(name)
        person.enter_chat(room)
        person.say(f"hello from {name}")
        expect(alice.message_with_text(f"hello from {name}")).to_have_count(1)
    author_name(alice, f"hello from {b}").click()
    expect(menu(alice)).to_be_visible()
    box = menu(alice).bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= phone["width"]
    assert box["y"] + box["height"] <= phone["height"]
    menu_items(alice).filter(has_text="Make moderator").click()
    toast(alice, "ok", f"{b} is now a moderator of “{room}”.")
    alice.page.locator("#online-toggle").click()
    expect(alice.page.locator("#moderator-list li")).to_have_text([b])
    expect(alice.page.locator("#moderator-list")).to_be_in_viewport()
    alice.screenshot("moderation-phone")
