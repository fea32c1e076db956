"""The Redis broker in-process, against the real Redis: which channel each kind of
event travels on, subscribing (confirmed before ``subscribe`` returns), the
linger before unsubscribing, and the memory engine's no-ops."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as redis

from conftest import REDIS_URL, Postgres
from parley.broker import CHAT_KINDS, Event, MemoryBroker
from parley.redis_broker import RedisBroker
from proxy import Proxy

_prefixes = itertools.count(1)
LINGER = 0.3


@pytest.fixture
async def pair(services: Postgres) -> AsyncIterator[tuple[RedisBroker, RedisBroker,
                                                          list[Event], str]]:
    """Two brokers of one server (two processes' worth), what the first delivers, the
    prefix."""
    prefix = f"b{os.getpid()}x{next(_prefixes)}"
    got: list[Event] = []
    one = RedisBroker(REDIS_URL, "one", prefix=prefix, linger=LINGER)
    two = RedisBroker(REDIS_URL, "two", prefix=prefix, linger=LINGER)
    await one.start(got.append)
    await two.start(lambda event: None)
    yield one, two, got, prefix
    await one.close()
    await two.close()


@pytest.fixture
async def rds() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def _numsub(rds: redis.Redis, channel: str) -> int:
    [(_, count)] = await rds.pubsub_numsub(channel)
    return int(count)


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds (at most 5 seconds)."""
    deadline = time.monotonic() + 5
    while not await check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def _arrived(got: list[Event], count: int) -> None:
    async def enough() -> bool:
        return len(got) >= count
    await _until(enough)


async def test_chat_events_reach_only_the_subscribed(
    pair: tuple[RedisBroker, RedisBroker, list[Event], str], rds: redis.Redis,
) -> None:
    one, two, got, prefix = pair
    await one.subscribe(7)
    # confirmed by Redis when subscribe returns
    assert one.subscribed() == [7]
    assert await _numsub(rds, f"{prefix}:chat:7") == 1
    events = [Event(kind, chat, b"f", login="x") for chat in (7, 8)  # type: ignore[arg-type]
              for kind in sorted(CHAT_KINDS)]
    events.append(Event("members", 8, b""))  # a global kind, of a chat it is not in
    for event in events:
        two.publish(event)
    want = [e for e in events if e.chat_id == 7 or e.kind not in CHAT_KINDS]
    await _arrived(got, len(want))
    await asyncio.sleep(0.2)  # (and nothing more comes)
    assert got == want
    assert one.received == {"activity": 1, "chat": 1, "joined": 1, "left": 1, "members": 1,
                            "typing": 1}
    assert len(want) == 6
    assert one.received_bytes > 0


async def test_unsubscribe_after_the_linger_unless_wanted_again(
    pair: tuple[RedisBroker, RedisBroker, list[Event], str], rds: redis.Redis,
) -> None:
    one, two, got, prefix = pair
    channel = f"{prefix}:chat:7"
    await one.subscribe(7)
    one.unsubscribe(7)
    await asyncio.sleep(LINGER / 3)
    assert await _numsub(rds, channel) == 1  # lingering
    await one.subscribe(7)  # back within the linger: never left
    await asyncio.sleep(LINGER * 2)
    assert await _numsub(rds, channel) == 1
    assert one.subscribed() == [7]
    one.unsubscribe(7)
    async def gone() -> bool:  # (and the confirmation read)
        return await _numsub(rds, channel) == 0 and one.subscribed() == []
    await _until(gone)
    two.publish(Event("chat", 7, b"gone", 1))
    await asyncio.sleep(0.2)
    assert got == []
    # subscribing again: confirmed on return, and the events come again
    await one.subscribe(7)
    assert one.subscribed() == [7]
    two.publish(Event("chat", 7, b"back", 2))
    await _arrived(got, 1)
    assert got == [Event("chat", 7, b"back", 2)]


async def test_many_chats_in_one_subscribe_and_only_those_not_subscribed(
    pair: tuple[RedisBroker, RedisBroker, list[Event], str], rds: redis.Redis,
) -> None:
    """A user in many chats logging in: one ``SUBSCRIBE`` for every chat not subscribed
    yet, all confirmed when ``subscribe`` returns; those subscribed cost nothing."""
    one, two, got, prefix = pair
    await one.subscribe(1, 2)
    sent: list[tuple[str, int]] = []
    pubsub = one._pubsub
    assert pubsub is not None
    execute = pubsub.execute_command

    async def counted(*args: object) -> None:
        sent.append((str(args[0]), len(args) - 1))
        await execute(*args)
    pubsub.execute_command = counted  # type: ignore[method-assign]
    chats = list(range(1, 501))
    await one.subscribe(*chats)
    assert sent == [("SUBSCRIBE", 498)]
    assert one.subscribed() == chats
    channels = [f"{prefix}:chat:{n}" for n in chats]
    assert {count for _, count in await rds.pubsub_numsub(*channels)} == {1}
    await one.subscribe(*chats)  # all confirmed: nothing sent, nothing waited for
    assert sent == [("SUBSCRIBE", 498)]
    two.publish(Event("activity", 500, b"a", 9))
    await _arrived(got, 1)
    assert got == [Event("activity", 500, b"a", 9)]
    # unsubscribed after the linger, those due together in one UNSUBSCRIBE
    for n in chats:
        one.unsubscribe(n)

    async def gone() -> bool:
        return one.subscribed() == []
    await _until(gone)
    assert {verb for verb, _ in sent[1:]} == {"UNSUBSCRIBE"}
    assert sum(count for _, count in sent[1:]) == 500


async def test_own_events_delivered_at_once_and_not_again(
    pair: tuple[RedisBroker, RedisBroker, list[Event], str],
) -> None:
    one, _, got, _ = pair
    await one.subscribe(7)
    one.publish(Event("chat", 7, b"mine", 1))
    assert got == [Event("chat", 7, b"mine", 1)]  # at once, before Redis
    async def back() -> bool:  # it comes back from Redis, and is skipped
        return one.received == {"chat": 1}
    await _until(back)
    assert got == [Event("chat", 7, b"mine", 1)]


async def test_memory_broker_subscriptions_change_nothing() -> None:
    got: list[Event] = []
    broker = MemoryBroker()
    await broker.start(got.append)
    broker.unsubscribe(3)
    broker.publish(Event("chat", 3, b"a", 1))
    await broker.subscribe(3)
    broker.publish(Event("chat", 4, b"b", 1))
    assert got == [Event("chat", 3, b"a", 1), Event("chat", 4, b"b", 1)]
    assert (broker.received, broker.received_bytes) == ({}, 0)


async def test_after_an_outage_every_wanted_chat_is_subscribed_again(
    services: Postgres, rds: redis.Redis,
) -> None:
    """Redis cut: ``subscribe`` does not wait for it (the process keeps serving its own
    sockets); back: the chats wanted before and during the cut are subscribed again,
    those left meanwhile are not."""
    prefix = f"b{os.getpid()}x{next(_prefixes)}"
    proxy = await Proxy("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])).start()
    got: list[Event] = []
    one = RedisBroker(f"redis://127.0.0.1:{proxy.port}/0", "one", prefix=prefix,
                      linger=LINGER)
    two = RedisBroker(REDIS_URL, "two", prefix=prefix, linger=LINGER)
    try:
        await one.start(got.append)
        await two.start(lambda event: None)
        await one.subscribe(1)
        await one.subscribe(2)
        assert one.subscribed() == [1, 2]
        await proxy.cut()

        async def away() -> bool:
            return not one.connected.is_set()
        await _until(away)
        async with asyncio.timeout(1):  # at once, not after SUBSCRIBE_WAIT
            await one.subscribe(3)
        one.unsubscribe(2)
        await asyncio.sleep(LINGER * 2)
        await proxy.restore()

        async def back() -> bool:
            return one.subscribed() == [1, 3]
        await _until(back)
        channels = [f"{prefix}:chat:{n}" for n in (1, 2, 3)]
        assert await rds.pubsub_numsub(*channels) == [
            (channels[0].encode(), 1), (channels[1].encode(), 0), (channels[2].encode(), 1)]
        for n in (1, 2, 3):
            two.publish(Event("chat", n, b"after", 1))
        await _arrived(got, 2)
        await asyncio.sleep(0.2)
        assert got == [Event("chat", 1, b"after", 1), Event("chat", 3, b"after", 1)]
    finally:
        await one.close()
        await two.close()
        await proxy.close()
