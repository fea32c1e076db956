"""Reads of the database in one fair queue: a storm of them drains instead of timing out.

A reconnect storm asks the database for thousands of reads within seconds (each
returning socket's token login, list and ``choice``). Left to the connection
pool, they wait for a connection in no particular order, each giving up with
``error`` after the pool's timeout; the clients ask again and the load never
drains. :class:`ReadQueue` puts them in one queue instead:

- at most ``limit`` reads under way at once (fewer than the pool's connections,
  so that writes always find one), the others waiting in the order they came,
  as long as it takes: no timeout turns a wait into an ``error`` and a retry;
- a read asked while an identical one (same key) is still *waiting* joins it:
  one query answers both; reads that differ but that one query can answer
  together (the pages after different ids of one chat) join the same way, each
  adding what it asks (:meth:`ReadQueue.merged`). A read that has started is
  never joined: its answer may predate the asker's request (a message committed
  meanwhile would be in neither the page nor the live frames held from the
  request on), whereas a waiting read runs after every request that joined it;
- a read, once taken from the queue, runs to its end even when every asker is
  gone (a socket closed meanwhile): a cancelled query would cancel its
  connection's reset and lose the connection from the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ReadQueue:
    """At most ``limit`` reads under way; the others wait their turn, joined by key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        #: key -> the read of that key still waiting for a slot
        self._waiting: dict[Hashable, asyncio.Task[Any]] = {}
        #: key -> the read of :meth:`merged` and the items it is to answer
        self._merging: dict[Hashable, tuple[asyncio.Task[Any], list[Hashable]]] = {}
        #: reads asked, and those that joined a waiting read (no query of their own)
        self.asked = 0
        self.joined = 0

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``'s result, in turn; shared with the askers of the same ``key`` that
        came while it waited. Cancelling the caller leaves the read itself running."""
        self.asked += 1
        task: asyncio.Task[T] | None = self._waiting.get(key)
        if task is None:
            task = asyncio.ensure_future(self._turn(key, read))
            task.add_done_callback(_retrieved)
            self._waiting[key] = task
        else:
            self.joined += 1
        return await asyncio.shield(task)

    async def merged(self, key: Hashable, item: Hashable,
                     read: Callable[[list[Hashable]], Awaitable[T]]) -> T:
        """As :meth:`run`, for reads that one query can answer together though they
        differ: the askers of ``key`` that come while its read waits add their ``item``,
        and the read, once its turn comes, is ``read(items)`` (each asker takes its own
        part of the shared result)."""
        self.asked += 1
        entry = self._merging.get(key)
        if entry is not None and self._waiting.get(key) is entry[0]:
            entry[1].append(item)
            self.joined += 1
            return await asyncio.shield(entry[0])
        items: list[Hashable] = [item]
        task: asyncio.Task[T] = asyncio.ensure_future(self._turn(key, lambda: read(items)))
        task.add_done_callback(_retrieved)
        self._waiting[key] = task
        self._merging[key] = (task, items)
        task.add_done_callback(lambda _: self._merged(key, task))
        return await asyncio.shield(task)

    def _merged(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        entry = self._merging.get(key)
        if entry is not None and entry[0] is task:
            del self._merging[key]

    async def _turn(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        try:
            async with self._slots:
                self._started(key)
                return await read()
        finally:
            self._started(key)

    def _started(self, key: Hashable) -> None:
        """No later asker joins this read: it has started (or ended)."""
        if self._waiting.get(key) is asyncio.current_task():
            del self._waiting[key]

    @property
    def waiting(self) -> int:
        """Reads waiting for a slot (distinct keys)."""
        return len(self._waiting)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """The read's failure is its askers' (if every one of them is gone, nobody's)."""
    if not task.cancelled():
        task.exception()
