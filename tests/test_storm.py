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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import FAST, PASSWORD, REDIS_URL, MakeServer, Postgres, ServerProcess, unique
from parley.client import Client, Closed, Frame

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
STORM = (*FAST, "--max-connections-per-ip", "0", "--presence-linger", LINGER)


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
    assert answer["Command"] == "choice" and answer["Messages"] == [], answer
    return Member(login, client.token, client)


async def come_back(url: str, chat: str, member: Member, delay: float) -> asyncio.Task[None]:
    """The member's new socket, ``delay`` s after the drop: token login, then ``choice``
    with ``After`` until a page is not full; then it reads what comes live."""
    await asyncio.sleep(delay)
    client = await Client.connect(url)
    answer = await client.request({"Type": "account", "Command": "login",
                                   "Token": member.token})
    assert answer == {"Type": "account", "Command": "login", "Status": "success",
                      "User": member.login, "Token": member.token}, answer
    # (an ``activity`` push of the room may come first: the user is its member)
    listing = await client.until(lambda f: f.get("Command") == "list")
    assert chat in [c["name"] for c in listing["Chats"]], listing
    member.client = client
    while True:
        await client.send({"Type": "chat", "Command": "choice", "Chat": chat,
                           "After": member.newest})
        page = await client.until(lambda f: f.get("Command") == "choice")
        assert page["Chat"] == chat and "Status" not in page, page
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
    for start in range(0, size, 50):  # a few at a time: the setup is not the storm
        members += await asyncio.gather(*(
            join(urls[i % len(urls)], chat, unique("s")) for i in range(start, min(size, start + 50))))
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
        while any(m.newest < sent for m in members) or watcher.newest < sent:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a presence window (0.25 s) and more: anything still held
    for task in [*back, sender_reader]:
        task.cancel()
    await asyncio.gather(*back, sender_reader, return_exceptions=True)
    await asyncio.gather(*(m.client.close() for m in members), sender.close())
    return Storm(sent, members, watcher.presence)


def check(result: Storm) -> None:
    """Every user has every message once, in order, and nobody was told of the storm."""
    every = list(range(1, result.sent + 1))
    for member in result.members:
        assert member.ids == every, (member.login, member.ids)
    # Each user came back within the linger: by the protocol none of them left, so no
    # Joined and no Left is owed to anyone, whatever the size of the room.
    assert [m.presence for m in result.members] == [0] * len(result.members)
    assert result.watcher_presence == 0


@pytest.fixture
def storm_server(make_server: MakeServer) -> ServerProcess:
    return make_server(*STORM)


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
