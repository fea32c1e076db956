"""Fan-out by chat over Redis: three real processes (PostgreSQL and Redis).

A process listens to a chat's channel while it has a socket in the chat or a
logged-in socket of one of its members, seen here from Redis itself (``PUBSUB
CHANNELS``, ``PUBSUB NUMSUB``); a member's socket on another process gets the
chat's ``activity`` from its login's chat list on; and a socket choosing a chat while
another process sends into it meets the live stream right after its page, nothing
lost and nothing twice, messages and changes alike, also when its process
subscribes to the chat at that very moment.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as redis

from conftest import PASSWORD, REDIS_URL, ServerProcess, unique
from parley.client import Client, Frame
from parley.redis_broker import LINGER
from test_scale_out import clients, cluster, cluster_config, spawn

__all__ = ["clients", "cluster", "cluster_config", "spawn"]  # the fixtures, shared
Clients = Callable[..., Awaitable[Client]]


@pytest.fixture
async def rds() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def eventually(check: Callable[[], Awaitable[Any]], want: Any, timeout: float = 10.0,
                     ) -> None:
    """``check()`` comes to equal ``want`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (got := await check()) != want:
        assert time.monotonic() < deadline, f"{got!r} != {want!r}"
        await asyncio.sleep(0.05)


async def choose(client: Client, chat: str) -> Frame:
    """``choice`` of the chat; its answer (list pushes may come first)."""
    await client.send({"Type": "chat", "Command": "choice", "Chat": chat})
    answer = await client.until(lambda f: f.get("Command") == "choice")
    assert answer["Chat"] == chat, answer
    return answer


async def create(client: Client, chat: str) -> None:
    await client.send({"Type": "chat", "Command": "create", "Chat": chat})
    assert await client.until(lambda f: f.get("Command") == "create") == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": chat}


async def chat_id(proc: ServerProcess, name: str) -> int:
    [(found,)] = await proc.rows("SELECT id FROM chats WHERE name = :name", name=name)
    return int(found)


async def test_subscriptions_follow_the_sockets(
    cluster: list[ServerProcess], clients: Clients, cluster_config: tuple[str, str],
    rds: redis.Redis,
) -> None:
    """A process listens to a chat while it has a socket in it or a logged-in socket
    of one of its members (becoming one by creating or choosing it)."""
    a, b, c = cluster
    prefix = cluster_config[1]

    async def channels() -> dict[str, int]:
        names = sorted(n.decode() for n in await rds.pubsub_channels(f"{prefix}:chat:*"))
        counts = await rds.pubsub_numsub(*names) if names else []
        return {name.decode(): count for name, count in counts}

    alice = await clients(a.ws, unique("a"))
    bob = await clients(b.ws, unique("b"))
    carol = await clients(c.ws, unique("c"))
    assert await channels() == {}  # logged in, a member of no chat: no chat's traffic
    x, y = unique("x"), unique("y")
    await create(alice, x)
    cx = f"{prefix}:chat:{await chat_id(a, x)}"
    await eventually(channels, {cx: 1})
    await choose(bob, x)
    await eventually(channels, {cx: 2})
    await create(carol, y)
    cy = f"{prefix}:chat:{await chat_id(a, y)}"
    await eventually(channels, {cx: 2, cy: 1})
    # a second socket of a process in a chat: still one subscription of that process
    alice2 = await clients(a.ws, alice.user, register=False)
    await choose(alice2, x)
    assert await channels() == {cx: 2, cy: 1}
    # alice's first socket moves to y: A is now in both
    await choose(alice, y)
    await eventually(channels, {cx: 2, cy: 2})
    # A's last socket in x closes: A still listens to x, alice (logged in) is a member
    await alice2.close()
    await asyncio.sleep(LINGER * 1.5)
    assert await channels() == {cx: 2, cy: 2}
    # carol joins x and moves back to y: C stays in x as well, for its member
    await choose(carol, x)
    await eventually(channels, {cx: 3, cy: 2})
    await choose(carol, y)
    await asyncio.sleep(LINGER * 1.5)
    assert await channels() == {cx: 3, cy: 2}
    # carol leaves x: no longer a member, C stops listening to it after the linger
    await carol.send({"Type": "chat", "Command": "leave", "Chat": x})
    await carol.until(lambda f: f.get("Command") == "leave")
    await eventually(channels, {cx: 2, cy: 2})
    # bob logs out, his socket open: B stops listening to x after the linger
    await bob.send({"Type": "account", "Command": "logout"})
    assert await bob.until(lambda f: f.get("Command") == "logout") == {
        "Type": "account", "Command": "logout", "Status": "success"}
    await asyncio.sleep(LINGER / 2)
    assert await channels() == {cx: 2, cy: 2}  # (lingering)
    await eventually(channels, {cx: 1, cy: 2})
    # ... and listens to it again before the chat list of bob's login, no chat chosen
    assert (await bob.login(bob.user, PASSWORD))["Status"] == "success"
    assert await channels() == {cx: 2, cy: 2}
    # alice bans bob from x: B stops listening to it
    await alice.send({"Type": "chat", "Command": "ban", "Chat": x, "Login": bob.user})
    await alice.until(lambda f: f.get("Command") == "ban")
    await eventually(channels, {cx: 1, cy: 2})
    # the chat deleted by its owner (alice, in y): every process stops listening to it
    await alice.send({"Type": "chat", "Command": "delete", "Chat": x})
    assert (await alice.until(lambda f: f.get("Command") == "delete")) == {
        "Type": "chat", "Command": "delete", "Status": "success", "Chat": x}
    await eventually(channels, {cy: 2})
    await alice.close()
    await eventually(channels, {cy: 1})
    await carol.close()
    await eventually(channels, {})


async def test_activity_reaches_a_member_elsewhere_from_its_chat_list_on(
    cluster: list[ServerProcess], clients: Clients, cluster_config: tuple[str, str],
    rds: redis.Redis,
) -> None:
    """``activity`` travels on the chat's channel. A member logging in on a process that
    listens to none of the member's chats subscribes it, and the chat list after the
    login's answer waits for Redis to confirm: the push of a message sent right after
    the list arrives, each
    of four times (B's linger running out between them). A direct chat's members
    elsewhere are listened for from its creation."""
    a, b, c = cluster
    prefix = cluster_config[1]
    name = unique("act")
    sender = await clients(a.ws, unique("s"))
    await create(sender, name)
    channel = f"{prefix}:chat:{await chat_id(a, name)}"

    async def listeners(channel: str = channel) -> int:
        [(_, count)] = await rds.pubsub_numsub(channel)
        return int(count)

    member = await clients(b.ws, unique("m"))
    await choose(member, name)  # a member from now on
    assert member.token is not None
    await member.close()
    for k in range(1, 5):
        await eventually(listeners, 1)  # only A
        away = await clients(b.ws)
        answer = await away.login(token=member.token)
        assert answer["Status"] == "success"
        assert await listeners() == 2  # B, confirmed before the list
        await sender.say(f"m{k}")
        assert await away.until(lambda f: f.get("Command") == "activity") == {
            "Type": "chat", "Command": "activity", "Chat": name, "Id": k,
            "User": sender.user, "Mention": False}
        await away.close()
    # a direct chat: C listens to it for carol, who has not chosen it
    carol = await clients(c.ws, unique("c"))
    await sender.send({"Type": "chat", "Command": "direct", "With": [carol.user]})
    shown = await sender.until(lambda f: f.get("Command") == "direct")
    direct = f"{prefix}:chat:{await chat_id(a, shown['Chat'])}"
    await eventually(functools.partial(listeners, direct), 2)
    await sender.say("hello")
    assert await carol.until(lambda f: f.get("Command") == "activity") == {
        "Type": "chat", "Command": "activity", "Chat": shown["Chat"], "Id": 1,
        "User": sender.user, "Mention": False}


N = 300  # messages sent, one at a time, by one socket
EVERY = 3  # ... and every third one edited right after: N // EVERY changes


async def _send_all(sender: Client) -> None:
    """Message k (text ``m{k}``, id k in a new chat), each broadcast awaited; every
    :data:`EVERY`-th one edited at once (its change awaited too)."""
    for k in range(1, N + 1):
        await sender.say(f"m{k}")
        await sender.until(lambda f, k=k: f.get("Message", {}).get("id") == k
                           and f["Command"] == "message")
        if k % EVERY == 0:
            await sender.send({"Type": "chat", "Command": "edit", "Id": k, "Text": f"e{k}"})
            await sender.until(lambda f: f.get("Command") == "edit" and "Change" in f)
        await asyncio.sleep(0.02)


async def _watch(client: Client, chat: str, until_id: int | None) -> tuple[Frame, list[Frame]]:
    """Choose the chat; its answer, and the live frames after it up to message
    ``until_id`` and change ``until_id // EVERY`` (None: for a short while only)."""
    answer = await client.until(lambda f: f.get("Command") == "choice", 15)
    live: list[Frame] = []
    ids = [m["id"] for m in answer["Messages"]]
    changes = answer["Change"]
    deadline = time.monotonic() + (30 if until_id else 0.4)
    while time.monotonic() < deadline:
        if until_id and ids and ids[-1] >= until_id and changes >= until_id // EVERY:
            break
        try:
            frame = await client.recv(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        if frame.get("Command") == "message":
            ids.append(frame["Message"]["id"])
            live.append(frame)
        elif frame.get("Command") == "edit":
            changes = frame["Change"]
            live.append(frame)
    return answer, live


def _check(answer: Frame, live: list[Frame], until_id: int | None) -> None:
    """The page, then the live frames: consecutive ids from the page's first, with
    nothing twice; the live changes consecutive from the answer's ``Change``; each
    change after the message it edits."""
    page = [m["id"] for m in answer["Messages"]]
    assert page == list(range(page[0], page[0] + len(page))) if page else True
    ids = page + [f["Message"]["id"] for f in live if f["Command"] == "message"]
    first = ids[0] if ids else 1
    assert ids == list(range(first, first + len(ids)))
    changes = [f["Change"] for f in live if f["Command"] == "edit"]
    assert changes == list(range(answer["Change"] + 1, answer["Change"] + 1 + len(changes)))
    newest = page[-1] if page else 0
    for f in live:
        if f["Command"] == "message":
            newest = f["Message"]["id"]
        else:  # an edit, after the message it edits
            assert f["Message"]["id"] == f["Change"] * EVERY <= newest
            assert f["Message"]["text"] == f"e{f['Message']['id']}"
    if until_id is not None:
        assert ids[-1] == until_id
        assert (changes[-1] if changes else answer["Change"]) == until_id // EVERY


async def test_nothing_lost_or_twice_while_processes_subscribe(
    cluster: list[ServerProcess], clients: Clients, cluster_config: tuple[str, str],
    rds: redis.Redis,
) -> None:
    """A sends N messages and N/3 edits into a chat, one at a time. Sockets on B stay
    to the end (B's first one subscribes B, the others find it subscribed); sockets
    on C each watch for a moment and close, C's linger runs out between them, so each
    one's ``choice`` subscribes C anew while the messages flow."""
    a, b, c = cluster
    name = unique("flow")
    sender = await clients(a.ws, unique("s"))
    await create(sender, name)
    channel = f"{cluster_config[1]}:chat:{await chat_id(a, name)}"
    stayers = [await clients(b.ws, unique("b")) for _ in range(4)]
    visitors = [await clients(c.ws, unique("c")) for _ in range(4)]
    results: list[tuple[Frame, list[Frame], int | None]] = []

    async def stay(client: Client, delay: float) -> None:
        await asyncio.sleep(delay)
        await client.send({"Type": "chat", "Command": "choice", "Chat": name})
        answer, live = await _watch(client, name, N)
        results.append((answer, live, N))

    async def visit(client: Client, delay: float, first: bool) -> None:
        await asyncio.sleep(delay)
        if not first:  # C's linger runs out: only A and B listen to the chat
            async def listeners() -> list[tuple[bytes, int]]:
                return list(await rds.pubsub_numsub(channel))
            await eventually(listeners, [(channel.encode(), 2)])
        await client.send({"Type": "chat", "Command": "choice", "Chat": name})
        answer, live = await _watch(client, name, None)
        await client.close()
        results.append((answer, live, None))

    sending = asyncio.create_task(_send_all(sender))
    await asyncio.gather(
        *(stay(s, 0.2 + 0.5 * i) for i, s in enumerate(stayers)),
        *(visit(v, 0.1 + (LINGER + 0.6) * i, i == 0) for i, v in enumerate(visitors)))
    await sending
    assert len(results) == len(stayers) + len(visitors)
    for answer, live, until_id in results:
        _check(answer, live, until_id)
    # the visitors came while messages flowed: each saw some of them live
    for answer, live, until_id in results:
        if until_id is None:
            assert answer["Messages"]
            assert answer["Messages"][-1]["id"] < N
            assert [f for f in live if f["Command"] == "message"]
    for s in stayers:
        assert await s.silent(0.5)
    assert await c.texts(name) == [
        f"e{k}" if k % EVERY == 0 else f"m{k}" for k in range(1, N + 1)]
