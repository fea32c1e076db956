"""Which chats' channels this process listens to (with several processes, see
:mod:`parley.redis_broker`): a chat's while it has a socket in the chat, or a
logged-in socket of one of the chat's members.

A chat's events are its sockets' (messages, changes, presence, typing) and its
members' (``activity``, for the members' sockets that do not have it chosen: see
:mod:`parley.activity`), so a process needs them exactly then. The sockets in a
chat are the hub's rooms (choosing a chat subscribes to it, the hub says when the
last socket left); the members are counted here, per chat, over the users logged
in here:

- a user's chats are read once, when the user's first socket here logs in, and
  subscribed in one ``SUBSCRIBE`` for those not yet listened to; the
  chat list that follows the login answer waits for Redis to confirm it (one round
  trip, none when every chat was listened to already), so every ``activity`` after
  the list reaches the socket. The logins that come while a read is under way are
  read together next, in one query: a reconnect storm of N users costs a few
  queries, not N;
- they change with the events that change members, which reach every process:
  ``members`` (the user ``sender`` joined, or created the chat), ``direct`` (a direct
  chat and its members), ``leave`` (left, or banned), ``deleted``;
- the user's last socket here logging out or closing drops them.

A chat no socket here is in and no user here is a member of is unsubscribed, after
the broker's linger. With one process (the memory broker) there is nothing to listen
to, and nothing is read or counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container, Sequence

from .broker import Broker, Event

log = logging.getLogger(__name__)

#: at most this many users' chats are read in one query
READ_BATCH = 500


class Subscriptions:
    """This process's chats by member (see the module's doc). ``rooms`` and ``users`` are
    the hub's live chats with a socket here and logged-in users; ``member_chats`` reads
    the ids of some users' chats; ``spawn`` runs the reads."""

    def __init__(self, broker: Broker, rooms: Container[int], users: Container[int],
                 member_chats: Callable[[Sequence[int]], Awaitable[dict[int, list[int]]]],
                 spawn: Callable[[Awaitable[None]], None]) -> None:
        self._broker = broker
        self._rooms = rooms
        self._users = users
        self._read = member_chats
        self._spawn = spawn
        #: users waiting for the next read, and whether a read is under way
        self._queued: list[int] = []
        self._reading = False
        #: user id -> the chats the user is a member of, for the users logged in here
        self.chats: dict[int, set[int]] = {}
        #: chat id -> how many of those users are its members (never 0)
        self.members: dict[int, int] = {}
        #: users whose chats are being read -> the changes delivered meanwhile
        #: ((joined, chat id), in order), applied to what the read returns
        self._changes: dict[int, list[tuple[bool, int]]] = {}
        #: users queued or being read -> settled when their chats are known (or not)
        self._reads: dict[int, asyncio.Future[None]] = {}

    async def signed_in(self, user_id: int, *, new: bool = False) -> None:
        """A socket of the user logged in here (after the hub was told): returns once
        this process receives the events of the user's chats (a ``new`` user has none
        yet). The user's first socket here reads them."""
        if not self._broker.by_chat:
            return
        if new and user_id not in self.chats:
            self.chats[user_id] = set()
        chats = self.chats.get(user_id)
        if chats is None:
            read = self._reads.get(user_id)
            if read is None:
                read = self._queue(user_id)
            await asyncio.shield(read)
            chats = self.chats.get(user_id)
        if chats:
            await self._broker.subscribe(*chats)

    def signed_out(self, user_id: int) -> None:
        """The user's last socket here logged out or closed."""
        for chat_id in self.chats.pop(user_id, ()):
            self._drop(chat_id)

    def vacated(self, chat_id: int) -> None:
        """The hub's last socket in the chat left it."""
        if chat_id not in self.members:
            self._broker.unsubscribe(chat_id)

    def delivered(self, event: Event) -> None:
        """An event that may change members (``members``, ``direct``, ``leave``,
        ``deleted``; the hub hands over ``activity`` too, which changes nothing)."""
        if not self._broker.by_chat:
            return
        if event.kind == "members" and event.sender is not None:
            self._joined(event.sender, event.chat_id)
        elif event.kind == "direct" and event.users:
            for user_id in event.users:
                self._joined(user_id, event.chat_id)
        elif event.kind == "leave" and event.sender is not None:
            self._left(event.sender, event.chat_id)
        elif event.kind == "deleted":
            for user_id in {*self._changes, *self.chats}:
                self._left(user_id, event.chat_id)

    def _queue(self, user_id: int) -> asyncio.Future[None]:
        read = self._reads[user_id] = asyncio.get_running_loop().create_future()
        self._changes[user_id] = []
        self._queued.append(user_id)
        if not self._reading:
            self._reading = True
            self._spawn(self._read_queued())
        return read

    async def _read_queued(self) -> None:
        """Read the queued users' chats, those queued meanwhile next, in one query each."""
        try:
            while self._queued:
                users = self._queued[:READ_BATCH]
                del self._queued[:READ_BATCH]
                try:
                    found: dict[int, list[int]] | None = await self._read(users)
                except Exception:
                    log.warning("the chats of %d users could not be read: no activity for "
                                "them until they log in again", len(users), exc_info=True)
                    found = None
                for user_id in users:
                    changes = self._changes.pop(user_id)
                    try:
                        if found is not None:
                            self._load(user_id, set(found.get(user_id, ())), changes)
                    except Exception:
                        log.exception("the chats of user %d could not be kept", user_id)
                    self._reads.pop(user_id).set_result(None)  # (the logins wait for it)
        finally:
            self._reading = False

    def _load(self, user_id: int, found: set[int], changes: list[tuple[bool, int]]) -> None:
        """The user's chats as read, with the ``changes`` delivered meanwhile applied."""
        for joined, chat_id in changes:
            if joined:
                found.add(chat_id)
            else:
                found.discard(chat_id)
        if user_id not in self._users or user_id in self.chats:
            return  # logged out meanwhile (or known since)
        self.chats[user_id] = found
        for chat_id in found:
            self.members[chat_id] = self.members.get(chat_id, 0) + 1
        self._broker.want(found)  # (whether or not the login still waits for it)

    def _joined(self, user_id: int, chat_id: int) -> None:
        changes = self._changes.get(user_id)
        if changes is not None:
            changes.append((True, chat_id))
        chats = self.chats.get(user_id)
        if chats is None or chat_id in chats:
            return
        chats.add(chat_id)
        count = self.members.get(chat_id, 0)
        self.members[chat_id] = count + 1
        if count == 0:
            self._broker.want((chat_id,))

    def _left(self, user_id: int, chat_id: int) -> None:
        changes = self._changes.get(user_id)
        if changes is not None:
            changes.append((False, chat_id))
        chats = self.chats.get(user_id)
        if chats is None or chat_id not in chats:
            return
        chats.discard(chat_id)
        self._drop(chat_id)

    def _drop(self, chat_id: int) -> None:
        """One member fewer here; unsubscribed when none is left and no socket is in it."""
        count = self.members[chat_id] - 1
        if count:
            self.members[chat_id] = count
            return
        del self.members[chat_id]
        if chat_id not in self._rooms:
            self._broker.unsubscribe(chat_id)
