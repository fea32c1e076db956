"""SQLite's search index, filled after the commit from ``search_backlog``.

Tokenizing a message into the FTS5 table ``messages_fts`` cost about two thirds of the
CPU of storing it when a trigger did it in the writer's transaction (migration
``0010_search_backlog`` says how the backlog and its triggers keep the index exact).
Now the writer's transaction only notes the message's rowid, and :class:`Indexer`
moves the backlog into the index a moment later, thousands of messages per
transaction (FTS5 writes one segment per transaction: fewer, larger segments, fewer
merges), on the store's SQLite writer thread, between two of the writer's batches.

Promptness: a pass starts :data:`DELAY` seconds after the first message it will take,
and a search first indexes whatever waits (:meth:`parley.store.SqlStore.search`), so a
search always finds every message stored before it. Durability: the backlog is a
table, emptied in the transaction that indexes it; what a crash leaves there is
indexed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from . import tasks

log = logging.getLogger(__name__)

#: seconds between the first message waiting and the pass that indexes it
DELAY = 0.1
#: messages indexed in one transaction at most (a pass takes the writer's thread
#: about 50 µs a message: a few tens of milliseconds)
CHUNK = 1000
#: seconds before a failed pass is tried again
RETRY = 1.0


def index_backlog(conn: sa.Connection, limit: int = CHUNK) -> int:
    """Index the oldest ``limit`` messages of the backlog, in the transaction ``conn`` is
    in; how many there were (0: the backlog is empty)."""
    found = conn.exec_driver_sql(
        "SELECT message_rowid FROM search_backlog ORDER BY message_rowid LIMIT ?",
        (limit,)).all()
    if not found:
        return 0
    top = int(found[-1][0])
    conn.exec_driver_sql(
        "INSERT INTO messages_fts(rowid, text) SELECT m.rowid, m.text "
        "FROM search_backlog b JOIN messages m ON m.rowid = b.message_rowid "
        "WHERE b.message_rowid <= ? AND m.text IS NOT NULL ORDER BY b.message_rowid",
        (top,))
    conn.exec_driver_sql("DELETE FROM search_backlog WHERE message_rowid <= ?", (top,))
    return len(found)


class Indexer:
    """The task that empties the backlog: :meth:`nudge` after each stored batch.

    ``index`` runs one pass (one transaction of at most :data:`CHUNK` messages) and
    says how many it indexed.
    """

    def __init__(self, index: Callable[[], Awaitable[int]], *, delay: float = DELAY) -> None:
        self._index = index
        self._delay = delay
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task; it indexes at once what a previous run left."""
        self._task = asyncio.create_task(self._run(), name="search-indexer")
        self._wakeup.set()

    def nudge(self) -> None:
        """Messages were stored: index them in a moment."""
        self._wakeup.set()

    async def close(self) -> None:
        """Stop the task (what still waits is indexed by the next start, or a search)."""
        await tasks.stop(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(self._delay)
            self._wakeup.clear()
            try:
                while await self._index() >= CHUNK:
                    pass
            except Exception:
                log.exception("indexing messages for search failed; trying again")
                await asyncio.sleep(RETRY)
                self._wakeup.set()
