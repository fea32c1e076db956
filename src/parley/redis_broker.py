"""Fan-out between server processes over Redis pub/sub.

Each process delivers its own events to its own sockets at once (so it keeps
serving them while Redis is away) and publishes them on one channel; what
arrives from the channel is delivered unless it came from this process.
Events published while Redis is unreachable are dropped for the other
processes; their clients fill the gap with ``choice`` + ``After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from .broker import Deliver, Event

log = logging.getLogger(__name__)

#: events waiting to be published; past this, the oldest are dropped
BACKLOG = 100_000
#: at most this many waiting events go to Redis in one round trip (a pipeline)
PUBLISH_BATCH = 500


class _Envelope(msgspec.Struct, array_like=True):
    origin: str
    event: Event


class RedisBroker:
    def __init__(self, url: str, origin: str, *, prefix: str = "parley") -> None:
        self._url = url
        self._channel = f"{prefix}:events"
        self._origin = origin
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._deliver: Deliver | None = None
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue(BACKLOG)
        self._tasks: list[asyncio.Task[None]] = []
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(_Envelope).decode
        self.connected = asyncio.Event()

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-listen"),
            asyncio.create_task(self._publish(), name="redis-publish"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    def publish(self, event: Event) -> None:
        if self._deliver is not None:
            self._deliver(event)
        data = self._encode(_Envelope(self._origin, event))
        if self._outgoing.full():
            self._outgoing.get_nowait()
        self._outgoing.put_nowait(data)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._redis.aclose()
        self._deliver = None

    async def _publish(self) -> None:
        """Publish what waits, in order, a batch per round trip: one round trip per event
        would let a burst fall behind the other processes' reorder wait
        (:data:`parley.ordering.REORDER_WAIT`), and they would skip it. A batch that
        fails is sent again whole (as a single publish whose answer was lost is): a keyed
        frame that arrives twice is dropped there (:class:`parley.ordering.Subscription`)."""
        while True:
            batch = [await self._outgoing.get()]
            while len(batch) < PUBLISH_BATCH and not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            while True:
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for data in batch:
                            pipe.publish(self._channel, data)
                        await pipe.execute()
                    break
                except (RedisError, OSError) as exc:
                    log.warning("publishing to Redis failed (%s); retrying", exc)
                    await asyncio.sleep(0.5)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.connected.set()
                delay = 0.1
                async for message in pubsub.listen():
                    envelope = self._decode(message["data"])
                    if envelope.origin != self._origin and self._deliver is not None:
                        self._deliver(envelope.event)
            except (RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("Redis subscription lost (%s); reconnecting", exc)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
