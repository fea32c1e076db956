"""``users.seen_ms``: when each user was last connected, for ``parley admin users``.

A user is seen when they log in and when their last socket on a process closes (or
logs out). A busy server sees users many times a second, so a sighting is not a
query: :meth:`LastSeen.mark` notes the user's id and the time, and a background task
writes every noted user in one transaction each :data:`FLUSH_EVERY` seconds (and once
more when the server stops). A write that fails is kept for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

import sqlalchemy as sa

from . import tasks
from .errors import Unavailable
from .model import now_ms
from .rows import Transactions
from .schema import users

log = logging.getLogger(__name__)

#: seconds between two writes of the noted sightings
FLUSH_EVERY = 5.0


class SeenStore(Protocol):
    async def mark_seen(self, seen: Mapping[int, int]) -> None: ...


class SeenRows(Transactions):
    """The store's part: the sightings written."""

    async def mark_seen(self, seen: Mapping[int, int]) -> None:
        """Set ``seen_ms`` of each user id in ``seen`` to its time, in one transaction."""
        if not seen:
            return
        async with self._tx() as conn:
            await conn.execute(
                sa.update(users).where(users.c.id == sa.bindparam("uid"))
                .values(seen_ms=sa.bindparam("at")),
                [{"uid": uid, "at": at} for uid, at in seen.items()])


class LastSeen:
    """The sightings noted since the last write, and the task that writes them."""

    def __init__(self, rows: SeenStore, *, every: float = FLUSH_EVERY) -> None:
        self._rows = rows
        self._every = every
        #: user id -> when last seen (ms), not written yet
        self.due: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    def mark(self, user_id: int) -> None:
        self.due[user_id] = now_ms()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="last-seen")

    async def close(self) -> None:
        """Stop the task and write what is left."""
        await tasks.stop(self._task)
        self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write the sightings noted so far (kept for the next write if it fails)."""
        due, self.due = self.due, {}
        try:
            await self._rows.mark_seen(due)
        except Unavailable:
            log.warning("could not write when %d users were last seen", len(due))
            for user_id, at in due.items():
                self.due[user_id] = max(at, self.due.get(user_id, at))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.flush()
