"""What every handler may use: the :class:`Context`, one per process.

A handler is a function ``(ctx, peer, request)`` in the module of its domain
(:mod:`parley.accounts`, :mod:`parley.chats`, :mod:`parley.posting`); each
module lists its handlers in a ``HANDLERS`` table, and :mod:`parley.service`
joins the tables. A handler answers its socket with ``peer.send(answer)`` and
tells the sockets of every process with :meth:`Context.publish`, both with
answer objects: frames are made at the edge (:mod:`parley.frames`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeAlias

from msgspec import Struct

from . import presenter
from .answers import chat_changes, encode
from .broker import Broker, Event, user_event
from .change_writer import ChangeWriter
from .chatlist import ChatList
from .config import Settings
from .errors import RateLimited
from .frames import frame
from .hub import Hub
from .images import ImageStore
from .limits import Spacing, Throttle
from .metrics import Metrics
from .model import ChatSummary, Draft, Stored
from .passwords import Hasher
from .peer import Peer
from .pools import WorkPool
from .presence import Presence
from .rules import TokenBucket
from .sanctions import Sanctions
from .seen import LastSeen
from .sockets import Sockets
from .store import Store
from .subscriptions import Subscriptions
from .writer import MessageWriter

#: a command's handler: ``(ctx, peer, request)``, the request of the type it is listed for
Handler: TypeAlias = Callable[["Context", Peer, Any], Awaitable[None]]
#: a user's typing notices in a chat are forwarded at most once per this many seconds
TYPING_INTERVAL = 2.0
#: what the message writer calls after each commit (see :func:`parley.posting.published`)
OnCommit: TypeAlias = Callable[["Context", Sequence[Draft], Sequence[Stored]], None]


class PerUser:
    """One token bucket per user id, made on first use."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._buckets: dict[int, TokenBucket] = {}

    def take(self, user_id: int) -> bool:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = TokenBucket(self._rate, self._burst)
        return bucket.take(time.monotonic())


class Context:
    """The store, the image store, fan-out, this process's sockets, the pools, the
    limits and the metrics: built once by the app (:func:`parley.app.lifespan`)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        images: ImageStore,
        broker: Broker,
        hub: Hub,
        hasher: Hasher,
        metrics: Metrics,
        presence: Presence,
        *,
        image_pool: WorkPool,
        on_commit: OnCommit | None = None,
    ) -> None:
        s = settings
        self.settings = settings
        self.store = store
        self.images = images
        #: publishes events to every process (see :meth:`publish`)
        self.broker = broker
        #: this process's sockets by chat and by user; delivers the broker's events
        self.hub = hub
        self.hasher = hasher
        self.metrics = metrics
        self.presence = presence
        #: decodes images, within a memory budget (see images.decode_in)
        self.image_pool = image_pool
        #: argon2 hashing and checking, in threads of its own (closed by the app)
        self.hashing = WorkPool("hash", threads=s.hash_threads, queue=s.hash_queue)
        #: password logins and registrations, by address; wrong passwords by account
        self.throttle = Throttle(s.login_rate, s.login_burst)
        #: closed-chat passwords, by user; wrong ones by chat
        self.chat_throttle = Throttle(s.login_rate, s.login_burst)
        #: messages, per user
        self.send_rate = PerUser(s.rate_limit, s.rate_burst)
        #: chat creates and deletes together, per user (each costs every socket a frame)
        self.chat_rate = PerUser(s.chat_rate / 60, s.chat_burst)
        #: typing notices forwarded, per (user id, chat id)
        self.typing = Spacing(TYPING_INTERVAL)
        #: every open socket of this process, and the count per address
        self.sockets = Sockets(s.max_connections_per_ip, metrics)
        #: the chats this process listens to for its users' memberships
        self.subscriptions = Subscriptions(broker, hub.rooms, hub.users, store.member_chats,
                                           self.background)
        #: the chat list: kept, pushed, deltas
        self.lists = ChatList(self._read_list, hub.logged_in, hub.count,
                              self._read_direct, hub.users)
        hub.on_list = self.lists.delivered
        hub.on_direct = self.lists.direct_created
        if on_commit is None:
            from .posting import published  # (posting imports this module)

            on_commit = published
        #: stores messages in batches, then calls ``on_commit`` (by default: publishes them)
        self.writer = MessageWriter(store, functools.partial(on_commit, self))
        #: stores edits, removals and reactions in batches (see parley.changes)
        self.changes = ChangeWriter(store)
        #: the bans and mutes in force, asked by every message (see parley.moderation)
        self.sanctions = Sanctions()
        #: when users were last connected, written every few seconds (started by the app)
        self.seen = LastSeen(store)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _read_list(self) -> Struct:
        return presenter.chats(await self.store.list_chats())

    async def _read_direct(self, user_id: int) -> list[bytes]:
        """The user's direct chats' list entries, encoded."""
        return [encode(presenter.chat_info(c)) for c in await self.store.direct_chats(user_id)]

    # -- fan-out ----------------------------------------------------------------------

    def publish(self, kind: Literal["chat", "deleted", "joined", "left", "list", "typing",
                                    "leave", "mine"],
                chat_id: int, answer: Struct, *, message_id: int | None = None,
                login: str | None = None, sender: int | None = None,
                own: Struct | None = None, change: int | None = None) -> None:
        """Send ``answer`` to the sockets ``kind`` says (see :class:`~parley.broker.Event`)
        on every process; framed here, once for all of them (``own``, for the sockets
        of the user ``sender`` alone, once for those)."""
        self.broker.publish(Event(kind, chat_id, frame(answer), message_id, login=login,
                                  sender=sender, own=None if own is None else frame(own),
                                  change=change))

    def publish_direct(self, chat_id: int, chat: ChatSummary, member_ids: list[int]) -> None:
        """The direct chat was created: its members' sockets, on every process, get
        their new list (see :meth:`parley.chatlist.ChatList.direct_created`)."""
        info = presenter.chat_info(chat)
        self.broker.publish(Event("direct", chat_id, frame(chat_changes([info], [])),
                                  users=member_ids, entry=encode(info)))

    def log_out(self, user_id: int, *, answer: Struct | None = None, close: int = 0,
                reason: bytes = b"", token: str | None = None,
                spare: str | None = None) -> None:
        """Log out the user's sockets on every process (see
        :func:`~parley.broker.user_event`): closed with ``close`` and ``reason``, or
        left open and anonymous with ``answer`` pushed to them."""
        payload = reason if close or answer is None else frame(answer)
        self.broker.publish(user_event(user_id, payload, close=close, token=token, spare=spare))

    # -- limits -------------------------------------------------------------------------

    async def password_attempt(self, throttle: Throttle, source: str, target: str | None,
                               check: Callable[[], bool]) -> bool:
        """One password check, charged to ``throttle`` before anything is awaited (so
        that concurrent attempts see each other), waiting its turn, then run in the
        hashing pool. A right password gives the tokens back; an attempt refused
        before its check (the pool full, the socket gone) gives back everything."""
        attempt = throttle.admit(source, target, time.monotonic())
        if attempt is None:
            raise RateLimited()
        waited = False
        try:
            if attempt.wait > 0:
                await asyncio.sleep(attempt.wait)
            waited = True
            ok = await self.hashing.run(check)
        except RateLimited:
            throttle.unchecked(attempt, time.monotonic())
            raise
        except asyncio.CancelledError:
            if not waited:
                throttle.unchecked(attempt, time.monotonic())
            raise
        if ok:
            throttle.succeeded(attempt, time.monotonic())
        return ok

    # -- background work -------------------------------------------------------------

    def background(self, work: Awaitable[None]) -> None:
        """Run ``work`` on its own; :meth:`drain` waits for it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work (presence updates, list pushes) under way."""
        while self._tasks or self.lists.busy():
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.lists.drain()
