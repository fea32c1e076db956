"""How the admin command line reaches running servers: the ``control`` table.

``parley admin`` runs as a process of its own, often with no Redis and always with
no socket to the servers. What it must tell them (close a user's sockets, a chat
was deleted, the chat list changed) is a :class:`~parley.broker.Event`, the same
one a server would publish. The command writes each event as one row of the
``control`` table (:func:`write`), in the transaction of the change it announces, so
that a change is never stored without its event nor the reverse.

Every server process runs a :class:`ControlReader`: each second it reads the rows
after the last id it read (starting from the largest id there is when it starts:
what was written before is history) and *delivers* each event to its own hub. It
does not publish them: every process reads the table itself, so publishing would
hand every process the event once per process. The query is one range scan of the
primary key, which on an idle server returns nothing.

On PostgreSQL ids come from a sequence and two writers may commit out of id order,
so an id skipped by the reader may still appear: the reader remembers the ids it
skipped for :data:`GAP_WAIT` seconds and reads from the oldest of them. Rows older
than :data:`KEEP_MS` are deleted by the command that writes the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import tasks
from .broker import Deliver, Event
from .schema import control

log = logging.getLogger(__name__)

#: seconds between two reads of the table
POLL = 1.0
#: rows older than this (milliseconds) are deleted when a new one is written
KEEP_MS = 3_600_000
#: seconds an id skipped by the reader may still be committed and read
GAP_WAIT = 10.0
#: a jump of more ids than this is not tracked id by id (a sequence reset, not a race)
MAX_GAP = 1000

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Event).decode


async def write(conn: AsyncConnection, events: Sequence[Event], now_ms: int) -> None:
    """In the caller's transaction: one row per event, and the rows older than
    :data:`KEEP_MS` deleted."""
    await conn.execute(control.delete().where(control.c.created_ms < now_ms - KEEP_MS))
    if events:
        await conn.execute(control.insert(),
                           [{"created_ms": now_ms, "event": _encode(e)} for e in events])


class ControlReader:
    """Reads the ``control`` table each :data:`POLL` seconds and delivers its new rows'
    events to this process's hub (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine, deliver: Deliver, *, poll: float = POLL) -> None:
        self._engine = engine
        self._deliver = deliver
        self._poll = poll
        #: the largest id read so far
        self.last = 0
        #: ids below :attr:`last` not read yet -> until when (monotonic) to wait for them
        self._missing: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start after the rows already there; the database must be reachable."""
        async with self._engine.connect() as conn:
            found = (await conn.execute(sa.select(sa.func.max(control.c.id)))).scalar()
        self.last = int(found or 0)
        self._task = asyncio.create_task(self._run(), name="control-reader")

    async def close(self) -> None:
        await tasks.stop(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.read()
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                log.warning("could not read the control table: %s", exc)
            except Exception:  # a failed delivery must not end the reading
                log.exception("delivering an event of the control table failed")

    async def read(self) -> int:
        """Deliver the events of the rows not read yet; how many."""
        floor = min(self._missing, default=self.last + 1) - 1
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(control.c.id, control.c.event)
                .where(control.c.id > floor).order_by(control.c.id))).all()
        now = time.monotonic()
        delivered = 0
        for row in rows:
            row_id = int(row.id)
            if row_id > self.last:
                if row_id - self.last - 1 <= MAX_GAP:
                    for skipped in range(self.last + 1, row_id):
                        self._missing[skipped] = now + GAP_WAIT
                self.last = row_id
            elif self._missing.pop(row_id, None) is None:
                continue  # read before
            delivered += self._hand_over(row_id, bytes(row.event))
        for skipped, until in list(self._missing.items()):
            if until <= now:
                del self._missing[skipped]
        return delivered

    def _hand_over(self, row_id: int, data: bytes) -> int:
        try:
            event = _decode(data)
        except msgspec.DecodeError:
            log.warning("control row %d holds no event this release reads; skipped", row_id)
            return 0
        self._deliver(event)
        return 1
