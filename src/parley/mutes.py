"""This process's map of the mutes in force, asked by every message.

Posting is the hot path (thousands of messages a second), so a mute is not read from
the database per message: each process keeps the mutes in a dict, loaded at start,
kept by the ``mute`` and ``unmute`` broker events that ``mute`` and ``unmute`` publish
after their commit (on every process, this one at once), and read again from the
database every :data:`REFRESH` seconds, which mends what a lost event (Redis away)
left wrong. A mute's end is compared with the clock at each message: an ended mute is
no mute, and no process has to be awake when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .broker import Event
from .errors import Unavailable
from .model import now_ms

log = logging.getLogger(__name__)

#: seconds between two readings of every mute from the database
REFRESH = 60.0

#: (chat id, user id, end in ms or None: until lifted)
MuteRow = tuple[int, int, int | None]
#: reads every mute in force at a time (``Store.mutes``)
ReadMutes = Callable[[int], Awaitable[list[MuteRow]]]


class Mutes:
    """The mutes in force, by (chat id, user id): when each ends (None: when lifted)."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        #: milliseconds since the epoch (a test moves it by hand)
        self.clock = clock
        self._until: dict[tuple[int, int], int | None] = {}
        #: the events delivered while a reading is under way (None: none is), applied
        #: again on top of what it read, which may predate them
        self._during: list[Event] | None = None
        self._task: asyncio.Task[None] | None = None

    def holds(self, chat_id: int, user_id: int) -> bool:
        """The user is muted in the chat now; an ended mute is forgotten here."""
        if not self._until:
            return False
        key = (chat_id, user_id)
        if key not in self._until:
            return False
        until = self._until[key]
        if until is None or until > self.clock():
            return True
        del self._until[key]
        return False

    def delivered(self, event: Event) -> None:
        """A ``mute`` or ``unmute`` event, from any process."""
        if self._during is not None:
            self._during.append(event)
        self._apply(event)

    def _apply(self, event: Event) -> None:
        if event.sender is None:
            return
        key = (event.chat_id, event.sender)
        if event.kind == "mute":
            self._until[key] = event.until
        else:
            self._until.pop(key, None)

    async def reload(self, read: ReadMutes) -> None:
        """Read every mute in force from the database, then apply again the events
        delivered meanwhile (a reading that started before their commit lacks them)."""
        self._during = []
        try:
            rows = await read(self.clock())
        finally:
            during, self._during = self._during, None
        self._until = {(chat_id, user_id): until for chat_id, user_id, until in rows}
        for event in during:
            self._apply(event)

    async def start(self, read: ReadMutes, every: float = REFRESH) -> None:
        """Load the mutes (the broker already delivering), then read them again every
        ``every`` seconds until :meth:`close`."""
        await self.reload(read)
        self._task = asyncio.create_task(self._refresh(read, every), name="mutes")

    async def _refresh(self, read: ReadMutes, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.reload(read)
            except Unavailable:
                log.warning("reading the mutes failed; the map stays as it was")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def __len__(self) -> int:
        return len(self._until)
