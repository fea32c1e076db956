"""A reconnect storm: every socket of a busy room drops at once and comes back.

One sender writes into a room at a steady rate while every other socket in it
drops at the same moment and reconnects a little later (token login, then
``choice`` with ``After`` = the newest id it had). Afterwards each user must hold
every message exactly once, in id order, and the presence frames the storm
caused must not grow with the square of the room: a user who comes back within
``--presence-linger`` was never gone, so the protocol owes nobody a ``Joined`` or
a ``Left`` for it (see docs/protocol.md, "Reconnecting without a Left"). The storm
runs at two sizes to show the per-socket count does not grow with the room.
Timings belong to bench/ (``bash bench/run --workload storm``); nothing here is
timed.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import (
    FAST,
    PASSWORD,
    REDIS_URL,
    MakeServer,
    Postgres,
    ServerProcess,
    joined,
    left,
    unique,
)
from parley.broker import Event
from parley.client import Client, Closed, Frame
from parley.hub import Hub
from parley.ordering import Position

#: messages a second from the one sender
RATE = 20
#: seconds of sending before the storm
BEFORE = 1.0
#: the sockets come back spread over this many seconds after they all dropped
SPREAD = 2.0
#: seconds of sending after the last socket came back
AFTER = 1.0
#: a full page of ``choice`` with ``After`` (see docs/protocol.md)
AFTER_PAGE = 100
#: well above SPREAD plus the slowest login of a loaded test machine
LINGER = "10"
#: the server flags of every storm: no limits in the way, a linger longer than the storm
STORM = (*FAST, "--max-connections-per-ip", "0", "--presence-linger", LINGER)  # (the last wins)


def presence(frame: Frame) -> bool:
    return frame.get("Command") == "connected" and ("Joined" in frame or "Left" in frame)


@dataclass
class Member:
    """One user of the room: what its sockets received, across the reconnect."""

    login: str
    token: str
    client: Client
    #: message ids in the order they reached this user (old socket, page, new socket)
    ids: list[int] = field(default_factory=list)
    #: presence frames the reconnected socket received
    presence: int = 0
    #: ``choice`` answered ``error`` (the server could not do it: on PostgreSQL, its
    #: connection pool busy for longer than it waits) and sent again, as clients do
    retried: int = 0

    @property
    def newest(self) -> int:
        return self.ids[-1] if self.ids else 0


async def read(member: Member, client: Client, *, count: bool) -> None:
    """Keep what ``client`` receives: message ids, and (``count``) presence frames."""
    try:
        while True:
            frame = await client.recv(timeout=120)
            if frame.get("Command") == "message" and "Message" in frame:
                member.ids.append(frame["Message"]["id"])
            elif count and presence(frame):
                member.presence += 1
    except Closed:
        return


async def join(url: str, chat: str, login: str) -> Member:
    client = await Client.connect(url)
    answer = await client.register(login, PASSWORD)
    assert answer["Status"] == "success", answer
    assert client.token is not None
    answer = await client.choose(chat)
    assert answer["Command"] == "choice", answer
    assert answer["Messages"] == [], answer
    return Member(login, client.token, client)


async def come_back(url: str, chat: str, member: Member, delay: float) -> asyncio.Task[None]:
    """The member's new socket, ``delay`` s after the drop: token login, then ``choice``
    with ``After`` until a page is not full; then it reads what comes live."""
    await asyncio.sleep(delay)
    client = await Client.connect(url)
    member.client = client
    # (generous timeouts: the storm's point is load, and test machines are shared)
    answer = await client.request({"Type": "account", "Command": "login",
                                   "Token": member.token}, timeout=60)
    assert answer == {"Type": "account", "Command": "login", "Status": "success",
                      "User": member.login, "Token": member.token}, answer
    # (an ``activity`` push of the room may come first: the user is its member)
    listing = await client.until(lambda f: f.get("Command") == "list", timeout=60)
    assert chat in [c["name"] for c in listing["Chats"]], listing
    while True:
        await client.send({"Type": "chat", "Command": "choice", "Chat": chat,
                           "After": member.newest})
        page = await client.until(lambda f: f.get("Command") == "choice", timeout=60)
        if page == {"Type": "chat", "Command": "choice", "Status": "error"}:
            member.retried += 1
            assert member.retried < 20, member
            await asyncio.sleep(0.5)
            continue
        assert page.get("Chat") == chat, page
        assert "Status" not in page, page
        member.ids.extend(m["id"] for m in page["Messages"])
        if len(page["Messages"]) < AFTER_PAGE:
            break
    return asyncio.create_task(read(member, client, count=True))


@dataclass
class Storm:
    """What one storm left behind."""

    sent: int
    members: list[Member]
    #: presence frames the sender's socket (which never dropped) received in the storm
    watcher_presence: int

    def per_socket(self) -> float:
        total = sum(m.presence for m in self.members) + self.watcher_presence
        return total / (len(self.members) + 1)


async def storm(urls: list[str], size: int, seed: int = 14) -> Storm:
    """``size`` users in one room (spread over ``urls``), one sender writing at
    :data:`RATE`; all drop at once and come back over :data:`SPREAD` seconds."""
    chat = unique("storm")
    sender = await Client.connect(urls[0])
    assert (await sender.register(unique("sender"), PASSWORD))["Status"] == "success"
    assert (await sender.create(chat))["Status"] == "success"
    members: list[Member] = []
    try:
        # A few at a time, within the password-hashing queue (--hash-queue, 32).
        for start in range(0, size, 25):
            members += await asyncio.gather(*(
                join(urls[i % len(urls)], chat, unique("s"))
                for i in range(start, min(size, start + 25))))
        readers = [asyncio.create_task(read(m, m.client, count=False)) for m in members]
        # The room is set up: the setup's presence frames are not the storm's.
        while True:
            try:
                frame = await sender.recv(timeout=1.0)
            except TimeoutError:
                break
            assert frame.get("Command") in ("connected", "list", "choice"), frame
        sent = 0
        watcher = Member("sender", "", sender)
        sender_reader = asyncio.create_task(read(watcher, sender, count=True))

        async def send(seconds: float) -> None:
            nonlocal sent
            for _ in range(int(seconds * RATE)):
                sent += 1
                await sender.say(f"m{sent}")
                await asyncio.sleep(1 / RATE)

        await send(BEFORE)
        watcher.presence = 0
        # The storm: every member's socket drops at once, while the sender goes on.
        sending = asyncio.create_task(send(SPREAD + AFTER))
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        old = [m.client for m in members]
        await asyncio.gather(*(client.close() for client in old))
        rng = random.Random(seed)
        back = await asyncio.gather(*(
            come_back(urls[(i + 1) % len(urls)], chat, m, rng.uniform(0, SPREAD))
            for i, m in enumerate(members)))
        await sending
        # Everyone has every message, live or from a page, before the count is taken.
        async with asyncio.timeout(60):
            while any(m.newest < sent for m in members) or watcher.newest < sent:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a presence window (0.25 s) and more: anything still held
        for task in [*back, sender_reader]:
            task.cancel()
        await asyncio.gather(*back, sender_reader, return_exceptions=True)
        return Storm(sent, members, watcher.presence)
    finally:
        await asyncio.gather(*(m.client.close() for m in members), sender.close(),
                             return_exceptions=True)


def check(result: Storm) -> None:
    """Every user has every message once, in order, and nobody was told of the storm."""
    every = list(range(1, result.sent + 1))
    for member in result.members:
        assert member.ids == every, (member.login, member.ids)
    # Each user came back within the linger: by the protocol none of them left, so no
    # Joined and no Left is owed to anyone, whatever the size of the room.
    assert [m.presence for m in result.members] == [0] * len(result.members)
    assert result.watcher_presence == 0


# ------------------------------------------------------------ the linger, in the hub


class Socket:
    """A socket as the hub sees it: what it was pushed."""

    def __init__(self) -> None:
        self.pushed: list[bytes] = []

    def push(self, frame: bytes, position: Position | None = None) -> None:
        self.pushed.append(frame)

    def release(self, covered: Mapping[str, int]) -> None:
        pass

    def chat_deleted(self, chat_id: int) -> None:
        pass


def lingering_hub() -> tuple[Hub, list[tuple[int, str, str]]]:
    hub = Hub()
    gone: list[tuple[int, str, str]] = []
    hub.on_gone = lambda chat_id, chat, login: gone.append((chat_id, chat, login))
    return hub, gone


async def test_back_within_the_linger_is_never_gone() -> None:
    hub, gone = lingering_hub()
    old, new, other = Socket(), Socket(), Socket()
    assert hub.enter(other, 1, "room", "bob") is True
    assert hub.enter(old, 1, "room", "amy") is True
    assert hub.leave(old, 1, "amy", linger=0.05) is False  # lingering: no Left now
    assert hub.online(1) == ["amy", "bob"]
    assert sorted(hub.presence()) == [(1, "room", "amy"), (1, "room", "bob")]
    assert hub.enter(new, 1, "room", "amy") is False  # back: no Joined either
    await asyncio.sleep(0.1)
    assert gone == []
    assert hub.rooms[1].lingering == {}
    assert hub.online(1) == ["amy", "bob"]


async def test_the_linger_ends_with_on_gone_and_the_room_goes() -> None:
    hub, gone = lingering_hub()
    old = Socket()
    assert hub.enter(old, 1, "room", "amy") is True
    assert hub.leave(old, 1, "amy", linger=0.05) is False
    assert 1 in hub.rooms  # kept while the user lingers, with no socket in it
    await asyncio.sleep(0.1)
    assert gone == [(1, "room", "amy")]
    assert hub.rooms == {}
    assert list(hub.presence()) == []


async def test_without_a_linger_the_last_socket_leaves_at_once() -> None:
    hub, gone = lingering_hub()
    old = Socket()
    assert hub.enter(old, 1, "room", "amy") is True
    assert hub.leave(old, 1, "amy") is True
    assert hub.rooms == {}
    await asyncio.sleep(0)
    assert gone == []


async def test_a_deleted_chat_ends_its_lingers_without_on_gone() -> None:
    hub, gone = lingering_hub()
    old, other = Socket(), Socket()
    hub.enter(other, 1, "room", "bob")
    hub.enter(old, 1, "room", "amy")
    hub.leave(old, 1, "amy", linger=0.05)
    hub.deliver(Event("deleted", 1, b"deleted"))
    await asyncio.sleep(0.1)
    assert gone == []
    assert other.pushed == [b"deleted"]


# ------------------------------------------------------------ the linger, end to end


async def test_a_closed_socket_lingers_then_leaves(make_server: MakeServer) -> None:
    """Back within the linger: nothing pushed, still online. Not back: ``Left`` once
    the linger is over, not before."""
    server = make_server(*FAST, "--presence-linger", "1.5")
    chat = unique("linger")
    watcher = await Client.connect(server.ws)
    assert (await watcher.register(unique("w"), PASSWORD))["Status"] == "success"
    assert (await watcher.create(chat))["Status"] == "success"
    assert (await watcher.until(lambda f: "Joined" in f)) == joined(chat, watcher.user)
    amy = await join(server.ws, chat, unique("amy"))
    assert (await watcher.until(lambda f: "Joined" in f)) == joined(chat, amy.login)
    await amy.client.close()
    again = await Client.connect(server.ws)
    assert (await again.login(token=amy.token))["Status"] == "success"
    page = await again.choose(chat, after=0)
    assert page == {"Type": "chat", "Command": "choice", "Chat": chat, "Messages": [],
                    "Change": 0}
    assert await watcher.request({"Type": "chat", "Command": "connected"}) == {
        "Type": "chat", "Command": "connected", "Chat": chat,
        "Online": sorted([watcher.user, amy.login])}
    assert await watcher.silent(2.0)  # past the linger: amy never left
    assert await again.silent(0.1)
    await again.close()
    assert await watcher.silent(1.0)  # lingering
    assert await watcher.recv(timeout=5) == left(chat, amy.login)
    assert await watcher.request({"Type": "chat", "Command": "connected"}) == {
        "Type": "chat", "Command": "connected", "Chat": chat, "Online": [watcher.user]}
    await watcher.close()


async def test_choosing_another_chat_or_logging_out_does_not_linger(
        make_server: MakeServer) -> None:
    server = make_server(*FAST, "--presence-linger", "30")
    chat = unique("linger")
    watcher = await Client.connect(server.ws)
    assert (await watcher.register(unique("w"), PASSWORD))["Status"] == "success"
    assert (await watcher.create(chat))["Status"] == "success"
    assert (await watcher.until(lambda f: "Joined" in f)) == joined(chat, watcher.user)
    amy = await join(server.ws, chat, unique("amy"))
    bob = await join(server.ws, chat, unique("bob"))
    assert (await watcher.until(lambda f: "Joined" in f)) == joined(chat, amy.login)
    assert (await watcher.until(lambda f: "Joined" in f)) == joined(chat, bob.login)
    await amy.client.send({"Type": "chat", "Command": "choice", "Chat": "general"})
    await amy.client.until(lambda f: f.get("Command") == "choice")
    assert await watcher.recv() == left(chat, amy.login)
    await bob.client.send({"Type": "account", "Command": "logout"})
    assert await bob.client.until(lambda f: f.get("Command") == "logout") == {
        "Type": "account", "Command": "logout", "Status": "success"}
    assert await watcher.recv() == left(chat, bob.login)
    for client in (amy.client, bob.client, watcher):
        await client.close()


# ------------------------------------------------------------ the storm, one process


async def test_a_storm_of_100_then_300_loses_nothing_and_pushes_no_presence(
        make_server: MakeServer) -> None:
    per_socket = []
    for size in (100, 300):
        server = make_server(*STORM)
        result = await storm([server.ws], size)
        assert result.sent == int((BEFORE + SPREAD + AFTER) * RATE)
        check(result)
        per_socket.append(result.per_socket())
    assert per_socket == [0.0, 0.0]


# ------------------------------------------------------------ two processes, Redis


@pytest.fixture
def pair(tmp_path: Path, services: Postgres) -> Iterator[list[ServerProcess]]:
    db_url, prefix = services.new_database(), f"storm{os.getpid()}x{unique()}"
    made = [ServerProcess(tmp_path / f"node{i}", "--database-url", db_url,
                          "--redis-url", REDIS_URL, "--redis-prefix", prefix, *STORM)
            for i in range(2)]
    for proc in made:
        proc.start()
    yield made
    for proc in made:
        if proc.alive():
            proc.stop()


async def test_a_storm_across_two_processes(pair: list[ServerProcess]) -> None:
    """Each socket comes back on the other process than the one it left."""
    result = await storm([proc.ws for proc in pair], 200)
    check(result)
