"""Fan-out between server processes over Redis pub/sub, one channel per chat.

Each process delivers its own events to its own sockets at once (so it keeps
serving them while Redis is away) and publishes them; what arrives from Redis
is delivered unless it came from this process. Events published while Redis is
unreachable are dropped for the other processes; their clients fill the gap with
``choice`` + ``After``.

Events for the sockets that have a chat chosen or are its members' (the kinds of
:data:`parley.broker.CHAT_KINDS`) go on the chat's channel, ``PREFIX:chat:ID``; the
others on ``PREFIX:events``, which every process listens to. A process listens to a
chat's channel while it has a socket in the chat or of one of its members
(:mod:`parley.subscriptions` decides: :meth:`RedisBroker.subscribe`, then
:meth:`~RedisBroker.unsubscribe` when neither is left, acted on after :data:`LINGER`
so that sockets flapping between chats cost no churn). So a process decodes the
traffic of its sockets' chats, not of every chat. Subscribing to many chats at once
(a user in 500 chats logging in) is one ``SUBSCRIBE`` for those not subscribed yet:
the commands go out in order from one queue, those of one verb in a row merged.

No gap when a socket chooses a chat: :meth:`~RedisBroker.subscribe` returns once
Redis has confirmed the subscription, and Redis delivers every message published
on the channel after that confirmation. The chat's history is read after it, so
a message published before the confirmation was committed before the read (a
message is published after its commit) and is in the page; one published after
it arrives live. What arrives both ways is dropped by its key
(:class:`parley.ordering.Subscription`). Commands for a channel are never
overlapped in a way that makes a confirmation ambiguous: an ``UNSUBSCRIBE`` is
only sent once the channel's ``SUBSCRIBE`` is confirmed, so the next ``subscribe``
confirmation is always that of the newest ``SUBSCRIBE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .broker import CHAT_KINDS, Deliver, Event

log = logging.getLogger(__name__)

#: events waiting to be published; past this, the oldest are dropped
BACKLOG = 100_000
#: at most this many waiting events go to Redis in one round trip (a pipeline)
PUBLISH_BATCH = 500
#: a chat's channel stays subscribed this long after this process's last socket left it
LINGER = 1.0
#: how long choosing a chat waits for Redis to confirm its channel's subscription
#: (past it the choice goes on: Redis is away, and the client fills gaps as after an outage)
SUBSCRIBE_WAIT = 3.0


class _Envelope(msgspec.Struct, array_like=True):
    origin: str
    event: Event


@dataclass(slots=True)
class _Channel:
    """One chat's channel, on the current Redis connection."""

    #: this process has a socket in the chat
    wanted: bool = True
    #: the last command sent for it on this connection ("SUBSCRIBE", "UNSUBSCRIBE")
    last: str | None = None
    #: Redis confirmed the subscription, and no unsubscription since
    subscribed: bool = False
    #: commands sent and not yet confirmed
    inflight: int = 0
    #: ``subscribe`` calls waiting for the confirmation
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    linger: asyncio.TimerHandle | None = None


class RedisBroker:
    by_chat = True

    def __init__(self, url: str, origin: str, *, prefix: str = "parley",
                 linger: float = LINGER) -> None:
        self._url = url
        self._prefix = prefix
        self._channel = f"{prefix}:events"
        self._chat_prefix = f"{prefix}:chat:".encode()
        self._origin = origin
        self._linger = linger
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        # (no retries of its own: a lost connection is the listener's to replace, and
        # it subscribes again to what is wanted)
        self._listener = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                              retry=Retry(NoBackoff(), 0))
        self._deliver: Deliver | None = None
        self._outgoing: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(BACKLOG)
        self._tasks: list[asyncio.Task[None]] = []
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(_Envelope).decode
        self._chats: dict[int, _Channel] = {}
        self._pubsub: PubSub | None = None
        #: SUBSCRIBE and UNSUBSCRIBE commands to send, in order: (the connection, the
        #: verb, the chats)
        self._commands: asyncio.Queue[tuple[PubSub | None, str, list[int]]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.received: dict[str, int] = {}
        self.received_bytes = 0

    def chat_channel(self, chat_id: int) -> str:
        return f"{self._prefix}:chat:{chat_id}"

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-listen"),
            asyncio.create_task(self._publish(), name="redis-publish"),
            asyncio.create_task(self._send(), name="redis-subscriptions"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    def publish(self, event: Event) -> None:
        if self._deliver is not None:
            self._deliver(event)
        data = self._encode(_Envelope(self._origin, event))
        channel = (self.chat_channel(event.chat_id) if event.kind in CHAT_KINDS
                   else self._channel)
        if self._outgoing.full():
            self._outgoing.get_nowait()
        self._outgoing.put_nowait((channel, data))

    def want(self, chat_ids: Iterable[int]) -> list[int]:
        """The chats are wanted (their lingers end): one ``SUBSCRIBE`` goes out for
        those whose channel is neither subscribed nor being subscribed on this
        connection. Returns at once, with the chats whose subscription Redis has not
        confirmed yet (none while Redis is away: the listener subscribes to every
        wanted chat when it is back)."""
        connected = self._pubsub is not None and self.connected.is_set()
        send: list[int] = []
        unconfirmed: list[int] = []
        for chat_id in chat_ids:
            state = self._chats.get(chat_id)
            if state is None:
                state = self._chats[chat_id] = _Channel()
            state.wanted = True
            if state.linger is not None:
                state.linger.cancel()
                state.linger = None
            if not connected:
                continue
            if state.last != "SUBSCRIBE":
                send.append(chat_id)
            elif state.subscribed:
                continue
            unconfirmed.append(chat_id)
        if send:
            self._command("SUBSCRIBE", send)
        return unconfirmed

    async def subscribe(self, *chat_ids: int) -> None:
        unconfirmed = self.want(chat_ids)
        if not unconfirmed:
            return
        loop = asyncio.get_running_loop()
        waiting = [(self._chats[chat_id], loop.create_future()) for chat_id in unconfirmed]
        for state, waiter in waiting:
            state.waiters.append(waiter)
        try:
            _, late = await asyncio.wait([waiter for _, waiter in waiting],
                                         timeout=SUBSCRIBE_WAIT)
            if late:
                log.warning("Redis did not confirm the subscription to %d chats", len(late))
        finally:
            for state, waiter in waiting:
                with contextlib.suppress(ValueError):
                    state.waiters.remove(waiter)

    def unsubscribe(self, chat_id: int) -> None:
        state = self._chats.get(chat_id)
        if state is None:
            return
        state.wanted = False
        if state.linger is None:
            state.linger = asyncio.get_running_loop().call_later(
                self._linger, self._lingered, chat_id)

    def subscribed(self) -> list[int]:
        """The chats whose channel Redis confirmed (for tests and diagnostics)."""
        return sorted(chat_id for chat_id, state in self._chats.items() if state.subscribed)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for state in self._chats.values():
            if state.linger is not None:
                state.linger.cancel()
        await self._redis.aclose()
        await self._listener.aclose()
        self._deliver = None

    def _lingered(self, chat_id: int) -> None:
        """The linger after the chat's last socket ended: unsubscribe unless one came
        back, or wait again while a subscription is unconfirmed (see the module's doc)."""
        state = self._chats.get(chat_id)
        if state is None:
            return
        state.linger = None
        if state.wanted:
            return
        if state.last != "SUBSCRIBE" or self._pubsub is None:
            if state.inflight == 0 and not state.waiters:
                del self._chats[chat_id]
            return
        if state.inflight:  # the SUBSCRIBE is not confirmed yet
            state.linger = asyncio.get_running_loop().call_later(
                self._linger, self._lingered, chat_id)
            return
        self._command("UNSUBSCRIBE", [chat_id])

    def _command(self, verb: str, chat_ids: list[int]) -> None:
        """Queue ``verb`` for the chats' channels on the current connection (the chats'
        states say so at once; :meth:`_send` sends the queue in order)."""
        for chat_id in chat_ids:
            state = self._chats[chat_id]
            state.last = verb
            state.inflight += 1
        self._commands.put_nowait((self._pubsub, verb, chat_ids))

    async def _send(self) -> None:
        """Send the queued commands in order, those of one verb in a row as one command
        (a user in 500 chats logging in costs one ``SUBSCRIBE``). Redis answers them
        on the subscription (see :meth:`_confirmed`), not here: nothing is awaited but
        the write."""
        while True:
            batch = [await self._commands.get()]
            while not self._commands.empty():
                batch.append(self._commands.get_nowait())
            merged: list[tuple[PubSub | None, str, list[int]]] = []
            for pubsub, verb, chat_ids in batch:
                if merged and merged[-1][0] is pubsub and merged[-1][1] == verb:
                    merged[-1][2].extend(chat_ids)
                else:
                    merged.append((pubsub, verb, list(chat_ids)))
            for pubsub, verb, chat_ids in merged:
                if pubsub is None or pubsub is not self._pubsub:
                    continue  # a connection since replaced: the new one subscribed anew
                try:
                    await pubsub.execute_command(verb, *map(self.chat_channel, chat_ids))
                except (RedisError, OSError) as exc:  # the listener reconnects, subscribes
                    log.warning("%s of %d chats failed (%s)", verb, len(chat_ids), exc)

    def _confirmed(self, kind: str, channel: bytes) -> None:
        """A ``subscribe`` or ``unsubscribe`` confirmation of a chat's channel."""
        if not channel.startswith(self._chat_prefix):
            return
        chat_id = int(channel[len(self._chat_prefix):])
        state = self._chats.get(chat_id)
        if state is None:
            return
        state.inflight = max(0, state.inflight - 1)
        if kind == "subscribe":
            state.subscribed = True
            for waiter in state.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        else:
            state.subscribed = False
            if not state.wanted and state.inflight == 0 and state.linger is None:
                del self._chats[chat_id]

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
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                    break
                except (RedisError, OSError) as exc:
                    log.warning("publishing to Redis failed (%s); retrying", exc)
                    await asyncio.sleep(0.5)

    async def _connect(self, pubsub: PubSub) -> None:
        """A new subscription: the global channel and every wanted chat's. Set up before
        :attr:`connected` is set; a chat wanted meanwhile is subscribed right after."""
        for chat_id, state in list(self._chats.items()):
            state.subscribed, state.inflight, state.last = False, 0, None
            if not state.wanted and not state.waiters:
                if state.linger is not None:
                    state.linger.cancel()
                del self._chats[chat_id]
        wanted = [chat_id for chat_id, state in self._chats.items() if state.wanted]
        for chat_id in wanted:
            self._chats[chat_id].last, self._chats[chat_id].inflight = "SUBSCRIBE", 1
        await pubsub.subscribe(self._channel, *map(self.chat_channel, wanted))
        self._pubsub = pubsub
        self.connected.set()
        late = [chat_id for chat_id, state in self._chats.items()
                if state.wanted and state.last is None]
        if late:
            self._command("SUBSCRIBE", late)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._listener.pubsub()
            try:
                await self._connect(pubsub)
                delay = 0.1
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        data = message["data"]
                        envelope = self._decode(data)
                        kind = envelope.event.kind
                        self.received[kind] = self.received.get(kind, 0) + 1
                        self.received_bytes += len(data)
                        if envelope.origin != self._origin and self._deliver is not None:
                            self._deliver(envelope.event)
                    elif kind in ("subscribe", "unsubscribe"):
                        self._confirmed(kind, message["channel"])
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                self._pubsub = None
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
