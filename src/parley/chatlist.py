"""The chat list as this process sends it: one owner for the kept list and its pushes.

The list is read from the database once and kept, framed, until a chat comes or
goes on any process (a ``list`` event delivered here), or for :data:`LIST_TTL`
at most (a change published by another process may have been lost). Sockets
that asked for deltas (``ListChanges``) get each change's delta; every other
logged-in socket here gets the whole list again, throttled: at once when the
bucket allows, else when it will, so a burst of changes costs each socket a few
lists, not one per change.

A user's list is the public one followed by the user's direct chats (see
:mod:`parley.direct`): the public part is encoded once for everybody, and each
logged-in user's direct entries are kept here, encoded, read once per login or
``list`` (one query) and grown by ``direct`` events (direct chats are never deleted
and their members never change, so the entries only grow). A user's list is the
public list's bytes with the user's entries spliced in before its end: no entry is
encoded again per socket or per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

from msgspec import Struct

from .answers import encode
from .broker import Event
from .frames import Framed
from .outbox import text_frame
from .peer import Peer
from .rules import TokenBucket

log = logging.getLogger(__name__)

#: whole chat lists pushed to each socket without deltas: this many a second, after a
#: burst of LIST_BURST (every push counts, whatever set it off)
LIST_RATE = 2.0
LIST_BURST = 10.0
#: seconds a kept chat list is trusted (a push from another process may have been lost)
LIST_TTL = 5.0
#: reads of the chat list tried before one that no change overlapped is given up on
LIST_READS = 5


class ChatList:
    """The kept list, the sockets taking deltas, and the throttled whole-list pushes.

    ``read`` reads the list answer from the database; ``logged_in`` is the live set of
    this process's logged-in sockets (the hub's); ``count`` is told how many sockets
    each push reached (the deliveries metric); ``read_direct`` reads a user's direct
    chats' entries, encoded; ``users`` is the live map of this process's logged-in
    users to their sockets (the hub's).
    """

    def __init__(self, read: Callable[[], Awaitable[Struct]], logged_in: Collection[Peer],
                 count: Callable[[int], None],
                 read_direct: Callable[[int], Awaitable[list[bytes]]] | None = None,
                 users: Mapping[int, Collection[Peer]] | None = None) -> None:
        self._read = read
        self._logged_in = logged_in
        self._count = count
        self._read_direct = read_direct
        self._users: Mapping[int, Collection[Peer]] = {} if users is None else users
        #: user id -> that user's direct chats' entries (JSON), in order (an ordered set)
        self._direct: dict[int, dict[bytes, None]] = {}
        self._kept: tuple[Framed, bytes] | None = None
        self._kept_at = 0.0
        #: counts the changes delivered here (a list read while it moved may be stale)
        self.version = 0
        #: the logged-in sockets that take the list's changes as deltas
        self._deltas: set[Peer] = set()
        self._bucket = TokenBucket(LIST_RATE, LIST_BURST)
        self._timer: asyncio.TimerHandle | None = None
        self._push: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the sockets ------------------------------------------------------------------

    def take_deltas(self, peer: Peer) -> None:
        """From now on ``peer`` gets the list's changes as deltas, not whole lists."""
        self._deltas.add(peer)

    def takes_deltas(self, peer: Peer) -> bool:
        return peer in self._deltas

    def forget(self, peer: Peer) -> None:
        """``peer`` is logged out or gone (and out of the hub's ``users``)."""
        self._deltas.discard(peer)
        user = peer.session.user if self._direct else None
        if user is not None and user.id not in self._users:
            self._direct.pop(user.id, None)

    # -- reading ----------------------------------------------------------------------

    async def current(self) -> Framed:
        """The public list, ready to send: read again while changes are delivered during
        the read (a few times at most)."""
        (listing, _), _ = await self._fresh()
        return listing

    async def for_user(self, user_id: int, *, fresh: bool = False) -> Framed:
        """The user's list: the public one, then the user's direct chats (read again
        with ``fresh``, else when not kept)."""
        (listing, payload), _ = await self._fresh()
        entries = self._direct.get(user_id)
        if (fresh or entries is None) and self._read_direct is not None:
            read = dict.fromkeys(await self._read_direct(user_id))
            entries = self._direct.get(user_id)  # (grown by events meanwhile)
            if entries is not None:
                read.update(entries)
            if user_id in self._users:
                self._direct[user_id] = read
            entries = read
        return _spliced(listing, payload, entries)

    async def _fresh(self) -> tuple[tuple[Framed, bytes], int]:
        for _ in range(LIST_READS):
            version = self.version
            listing = await self._kept_or_read()
            if self.version == version:
                break
        return listing, version

    async def _kept_or_read(self) -> tuple[Framed, bytes]:
        listing = self._kept
        now = time.monotonic()
        if listing is None or now - self._kept_at > LIST_TTL:
            version = self.version
            payload = encode(await self._read())
            listing = Framed(text_frame(payload)), payload
            if self.version == version:  # no change was delivered meanwhile
                self._kept, self._kept_at = listing, now
        return listing

    # -- changes ----------------------------------------------------------------------

    def delivered(self, event: Event) -> int:
        """A list event reached this process (see :class:`~parley.broker.Event`): an
        ``all`` (the whole list, which the hub pushed) is kept; a ``list`` change goes
        to the sockets taking deltas. The number of sockets pushed to here."""
        if event.kind == "all":
            self._kept = Framed(event.frame), _payload(event.frame)
            self._kept_at = time.monotonic()
            return 0
        self.version += 1
        self._kept = None
        for peer in self._deltas:
            peer.push(event.frame)
        self._changed()
        return len(self._deltas)

    async def pushed(self) -> None:
        """Wait for this process's whole-list push, when one is under way."""
        if self._push is not None:
            await asyncio.shield(self._push)

    def _wants_whole_lists(self) -> bool:
        """True when a logged-in socket here takes the whole list on each change."""
        return len(self._logged_in) > len(self._deltas)

    def _changed(self) -> None:
        """Push the whole list to the sockets without deltas, as the bucket allows.
        Every push takes a token, however it was set off."""
        if self._push is not None or self._timer is not None:
            return  # the push under way or due reads the newest list
        if not self._wants_whole_lists():
            return
        now = time.monotonic()
        if self._bucket.take(now):
            self._push = task = asyncio.ensure_future(self._push_whole())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._timer = asyncio.get_running_loop().call_later(
                self._bucket.delay(now), self._due)

    def _due(self) -> None:
        self._timer = None
        self._changed()

    async def _push_whole(self) -> None:
        try:
            (listing, payload), version = await self._fresh()
            deltas = self._deltas
            theirs: dict[int, Framed] = {}  # (a user's list, made once for their sockets)
            for peer in self._logged_in:
                if peer in deltas:
                    continue
                user = peer.session.user if self._direct else None
                entries = None if user is None else self._direct.get(user.id)
                if user is not None and entries:
                    mine = theirs.get(user.id)
                    if mine is None:
                        mine = theirs[user.id] = _spliced(listing, payload, entries)
                    peer.push(mine.frame)
                else:
                    peer.push(listing.frame)
            self._count(len(self._logged_in) - len(deltas))
        except Exception:  # the database is away: the next change tries again
            log.exception("reading the chat list failed")
            return
        finally:
            self._push = None
        if self.version != version:  # a change overlapped the last read
            self._changed()

    # -- direct chats ------------------------------------------------------------------

    def direct_created(self, event: Event) -> int:
        """A ``direct`` event (see :class:`~parley.broker.Event`): each member's sockets
        here get their new list, as a delta or whole. The number of sockets pushed to
        at once (the whole lists follow)."""
        pushed = 0
        for user_id in event.users or ():
            peers = self._users.get(user_id)
            if not peers:
                continue
            entries = self._direct.get(user_id)
            if entries is not None and event.entry is not None:
                entries[event.entry] = None
            whole = False
            for peer in peers:
                if peer in self._deltas:
                    peer.push(event.frame)
                    pushed += 1
                else:
                    whole = True
            if whole:
                task = asyncio.ensure_future(self._push_theirs(user_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return pushed

    async def _push_theirs(self, user_id: int) -> None:
        """The user's whole list to their sockets here that take no deltas."""
        try:
            listing = await self.for_user(user_id)
        except Exception:  # the database is away: the next list brings it
            log.exception("reading a chat list failed")
            return
        peers = [p for p in self._users.get(user_id, ()) if p not in self._deltas]
        for peer in peers:
            peer.push(listing.frame)
        self._count(len(peers))

    def busy(self) -> bool:
        """A push is under way."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for the pushes under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _spliced(listing: Framed, payload: bytes, entries: Collection[bytes] | None) -> Framed:
    """The public list with ``entries`` added at the end of its ``Chats``."""
    if not entries:
        return listing
    assert payload.endswith(b"]}")  # {"Type":"chat","Command":"list","Chats":[...]}
    head = payload[:-2]
    joined = b",".join(entries)
    return Framed(text_frame(head + (joined if head.endswith(b"[") else b"," + joined)
                             + b"]}"))


def _payload(frame: bytes) -> bytes:
    """The payload of one unmasked text frame (see :func:`parley.outbox.text_frame`)."""
    length = frame[1] & 0x7F
    return frame[2 if length < 126 else 4 if length == 126 else 10:]
