"""The chat list as this process sends it: one owner for the kept list and its pushes.

The list is read from the database once and kept, framed, until a chat comes or
goes on any process (a ``list`` event delivered here), or for :data:`LIST_TTL`
at most (a change published by another process may have been lost). Sockets
that asked for deltas (``ListChanges``) get each change's delta; every other
logged-in socket here gets the whole list again, throttled: at once when the
bucket allows, else when it will, so a burst of changes costs each socket a few
lists, not one per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from msgspec import Struct

from .broker import Event
from .frames import Framed, framed
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
    each push reached (the deliveries metric).
    """

    def __init__(self, read: Callable[[], Awaitable[Struct]], logged_in: Collection[Peer],
                 count: Callable[[int], None]) -> None:
        self._read = read
        self._logged_in = logged_in
        self._count = count
        self._kept: Framed | None = None
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
        """``peer`` is logged out or gone."""
        self._deltas.discard(peer)

    # -- reading ----------------------------------------------------------------------

    async def current(self) -> Framed:
        """The list, ready to send: read again while changes are delivered during the
        read (a few times at most)."""
        listing, _ = await self._fresh()
        return listing

    async def _fresh(self) -> tuple[Framed, int]:
        for _ in range(LIST_READS):
            version = self.version
            listing = await self._kept_or_read()
            if self.version == version:
                break
        return listing, version

    async def _kept_or_read(self) -> Framed:
        listing = self._kept
        now = time.monotonic()
        if listing is None or now - self._kept_at > LIST_TTL:
            version = self.version
            listing = framed(await self._read())
            if self.version == version:  # no change was delivered meanwhile
                self._kept, self._kept_at = listing, now
        return listing

    # -- changes ----------------------------------------------------------------------

    def delivered(self, event: Event) -> int:
        """A list event reached this process (see :class:`~parley.broker.Event`): an
        ``all`` (the whole list, which the hub pushed) is kept; a ``list`` change goes
        to the sockets taking deltas. The number of sockets pushed to here."""
        if event.kind == "all":
            self._kept, self._kept_at = Framed(event.frame), time.monotonic()
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
            listing, version = await self._fresh()
            deltas = self._deltas
            for peer in self._logged_in:
                if peer not in deltas:
                    peer.push(listing.frame)
            self._count(len(self._logged_in) - len(deltas))
        except Exception:  # the database is away: the next change tries again
            log.exception("reading the chat list failed")
            return
        finally:
            self._push = None
        if self.version != version:  # a change overlapped the last read
            self._changed()

    def busy(self) -> bool:
        """A push is under way."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for the pushes under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
