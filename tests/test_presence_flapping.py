"""Presence deltas are coalesced: a socket switching chats fast cannot flood a chat
with Joined/Left, and the last delta each user's watchers get is the true one."""

from __future__ import annotations

import time

from conftest import Connect, joined, left, room, user
from parley.broker import Event
from parley.hub import PRESENCE_WINDOW, Hub


class Peer:
    def __init__(self, login: str) -> None:
        self.login = login
        self.pushed: list[bytes] = []

    def push(self, frame: bytes, message_id: int | None = None) -> None:
        self.pushed.append(frame)

    def chat_deleted(self, chat_id: int) -> None:
        pass


def came(login: str) -> Event:
    return Event("joined", 1, f"+{login}".encode(), login=login)


def went(login: str) -> Event:
    return Event("left", 1, f"-{login}".encode(), login=login)


def watched() -> tuple[Hub, Peer]:
    hub = Hub()
    watcher = Peer("w")
    hub.enter(watcher, 1, "chat1", "w")
    return hub, watcher


# --------------------------------------------------------------------------- the hub


async def test_a_quiet_chat_gets_the_first_delta_at_once_then_one_per_window() -> None:
    hub, w = watched()
    hub.deliver(came("a"))
    assert w.pushed == [b"+a"]
    hub.deliver(came("b"))
    hub.deliver(came("c"))
    assert w.pushed == [b"+a"]  # held until the window ends
    hub.flush_presence(1)
    assert w.pushed == [b"+a", b"+b", b"+c"]
    assert hub.rooms[1].window is not None  # something was sent: hold for another window
    hub.flush_presence(1)
    assert hub.rooms[1].window is None  # nothing held: quiet again
    hub.deliver(went("b"))
    assert w.pushed == [b"+a", b"+b", b"+c", b"-b"]


async def test_changes_that_undo_each_other_send_nothing() -> None:
    hub, w = watched()
    hub.deliver(came("a"))
    for _ in range(100):
        hub.deliver(went("a"))
        hub.deliver(came("a"))
        hub.deliver(came("b"))
        hub.deliver(went("b"))
    hub.flush_presence(1)
    assert w.pushed == [b"+a"]
    assert hub.rooms[1].window is None


async def test_only_the_last_delta_of_each_user_is_sent() -> None:
    hub, w = watched()
    hub.deliver(came("a"))
    for _ in range(100):
        hub.deliver(went("a"))
        hub.deliver(came("a"))
    hub.deliver(went("a"))
    hub.deliver(came("b"))
    hub.deliver(went("b"))
    hub.deliver(came("b"))
    hub.flush_presence(1)
    assert w.pushed == [b"+a", b"-a", b"+b"]


async def test_after_the_list_was_read_every_users_last_delta_is_sent() -> None:
    hub, w = watched()
    hub.deliver(came("a"))
    hub.deliver(came("b"))
    assert hub.online(1) == ["w"]  # a connected answer is read here, b maybe in it
    hub.deliver(went("b"))
    hub.flush_presence(1)
    assert w.pushed == [b"+a", b"-b"]


async def test_deltas_of_other_chats_and_of_gone_rooms() -> None:
    hub, w = watched()
    hub.deliver(Event("joined", 2, b"+x", login="x"))
    assert w.pushed == []
    hub.deliver(came("a"))
    hub.deliver(came("b"))
    window = hub.rooms[1].window
    assert window is not None
    hub.leave(w, 1, "w")  # the room goes, and its window with it
    assert window.cancelled()
    hub.flush_presence(1)
    assert w.pushed == [b"+a"]


def test_the_window_is_a_quarter_second() -> None:
    assert PRESENCE_WINDOW == 0.25


# --------------------------------------------------------------------------- end to end


async def test_a_socket_flapping_between_chats(connect: Connect) -> None:
    name, (watcher,) = await room(connect, 1)
    other, _ = await room(connect, 1)
    flapper = await user(connect)
    switches = 100
    start = time.monotonic()
    for _ in range(switches):
        for chat in (name, other):
            await flapper.send({"Type": "chat", "Command": "choice", "Chat": chat})
            await flapper.until(lambda f: f.get("Command") == "choice")
    # a newcomer after the flapping: its Joined comes after every delta before it
    sentinel = await user(connect)
    assert (await sentinel.choose(name))["Command"] == "choice"
    about_flapper = []
    while True:
        frame = await watcher.recv()
        if frame == joined(name, sentinel.user):
            break
        if frame.get("Command") == "connected":
            assert flapper.user in (frame.get("Joined"), frame.get("Left")), frame
            about_flapper.append(frame)
    elapsed = time.monotonic() - start
    # one at once, then at most one per window (against 200 without coalescing)
    assert len(about_flapper) <= 2 + elapsed / PRESENCE_WINDOW, (len(about_flapper), elapsed)
    if about_flapper:
        assert about_flapper[-1] == left(name, flapper.user)
    assert await watcher.request({"Type": "chat", "Command": "connected"}) == {
        "Type": "chat", "Command": "connected", "Chat": name,
        "Online": sorted([watcher.user, sentinel.user])}
