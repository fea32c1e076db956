"""Which chats a process listens to for its users' memberships, on the real Redis: the
chats read at login, with the membership events delivered during the read applied on
top; chats with a socket in them kept; nothing read or subscribed with one process."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Sequence

import pytest

from conftest import REDIS_URL, Postgres
from parley.broker import Event, MemoryBroker
from parley.redis_broker import RedisBroker
from parley.subscriptions import Subscriptions

_prefixes = itertools.count(1)
LINGER = 0.2


@pytest.fixture
async def broker(services: Postgres) -> AsyncIterator[RedisBroker]:
    one = RedisBroker(REDIS_URL, "one", prefix=f"s{os.getpid()}x{next(_prefixes)}",
                      linger=LINGER)
    await one.start(lambda event: None)
    yield one
    await one.close()


_tasks: set[asyncio.Future[None]] = set()


def spawn(work: Awaitable[None]) -> None:
    task = asyncio.ensure_future(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _until_subscribed(broker: RedisBroker, want: list[int]) -> None:
    deadline = time.monotonic() + 5
    while broker.subscribed() != want:
        assert time.monotonic() < deadline, broker.subscribed()
        await asyncio.sleep(0.01)


async def test_the_read_and_the_changes_meanwhile(broker: RedisBroker) -> None:
    stored = {1: [10, 11, 12], 3: [10], 4: [16]}
    reading = asyncio.Event()
    go = asyncio.Event()
    reads: list[list[int]] = []

    async def member_chats(user_ids: Sequence[int]) -> dict[int, list[int]]:
        reads.append(list(user_ids))
        reading.set()
        await go.wait()
        return {uid: stored[uid] for uid in user_ids if uid in stored}

    rooms: dict[int, object] = {}
    users = {1, 2, 3, 4, 5}
    subs = Subscriptions(broker, rooms, users, member_chats, spawn)
    login = asyncio.ensure_future(subs.signed_in(1))
    second = asyncio.ensure_future(subs.signed_in(1))  # another socket: the same read
    await reading.wait()
    # users logging in during the read are read together next, in one query
    others = [asyncio.ensure_future(subs.signed_in(uid)) for uid in (3, 4, 5)]
    # while the read is under way: user 1 leaves 11 and joins 13, 12 is deleted
    subs.delivered(Event("leave", 11, b"", sender=1))
    subs.delivered(Event("members", 13, b"", sender=1))
    subs.delivered(Event("deleted", 12, b""))
    subs.delivered(Event("members", 14, b"", sender=2))  # user 2: not read, not known
    go.set()
    await asyncio.gather(login, second)
    assert {10, 13} <= set(broker.subscribed())  # confirmed when the login returns
    await asyncio.gather(*others)
    assert reads == [[1], [3, 4, 5]]
    assert subs.chats == {1: {10, 13}, 3: {10}, 4: {16}, 5: set()}
    assert subs.members == {10: 2, 13: 1, 16: 1}
    assert broker.subscribed() == [10, 13, 16]
    for uid in (3, 4, 5):
        users.discard(uid)
        subs.signed_out(uid)
    await _until_subscribed(broker, [10, 13])
    # user 2 (new) joins a direct chat with user 1, and 13
    await subs.signed_in(2, new=True)
    subs.delivered(Event("direct", 15, b"", users=[1, 2]))
    subs.delivered(Event("members", 13, b"", sender=2))
    assert subs.chats == {1: {10, 13, 15}, 2: {13, 15}}
    assert subs.members == {10: 1, 13: 2, 15: 2}
    await _until_subscribed(broker, [10, 13, 15])
    # user 1 logs out; 10 has a socket in it here: 13 and 15 are user 2's still
    rooms[10] = object()
    users.discard(1)
    subs.signed_out(1)
    assert subs.members == {13: 1, 15: 1}
    await asyncio.sleep(LINGER * 2)
    assert broker.subscribed() == [10, 13, 15]
    # the room closes: 10 goes after the linger
    del rooms[10]
    subs.vacated(10)
    await _until_subscribed(broker, [13, 15])
    users.discard(2)
    subs.signed_out(2)
    await _until_subscribed(broker, [])
    assert (subs.chats, subs.members) == ({}, {})


async def test_a_user_gone_before_the_read_ends_is_not_kept(broker: RedisBroker) -> None:
    go = asyncio.Event()

    async def member_chats(user_ids: Sequence[int]) -> dict[int, list[int]]:
        await go.wait()
        return {1: [20]}

    users = {1}
    subs = Subscriptions(broker, {}, users, member_chats, spawn)
    login = asyncio.ensure_future(subs.signed_in(1))
    await asyncio.sleep(0)
    users.discard(1)
    subs.signed_out(1)
    go.set()
    await login
    assert (subs.chats, subs.members, broker.subscribed()) == ({}, {}, [])


async def test_one_process_reads_nothing() -> None:
    async def member_chats(user_ids: Sequence[int]) -> dict[int, list[int]]:
        raise AssertionError("read with the memory broker")

    subs = Subscriptions(MemoryBroker(), {}, {1}, member_chats, spawn)
    await subs.signed_in(1)
    subs.delivered(Event("members", 3, b"", sender=1))
    subs.signed_out(1)
    assert (subs.chats, subs.members) == ({}, {})
