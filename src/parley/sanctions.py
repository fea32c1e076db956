"""This process's map of the bans and mutes in force, asked by every message.

Posting is the hot path (thousands of messages a second), so a sanction is not read
from the database per message: each process keeps those in force in a dict, loaded at
start, kept by the ``ban``, ``unban``, ``mute`` and ``unmute`` broker events that those
commands publish after their commit (on every process, this one at once), and read
again from the database every :data:`REFRESH` seconds, which mends what a lost event
(Redis away) left wrong. A sanction's end is compared with the clock at each message:
an ended one is none, and no process has to be awake when it ends.

Mutes are decided here alone. A ban is decided by the database where it is asked
(``choice``); here it only stops the messages of a socket that kept the chat chosen
when the ban's ``leave`` event did not reach its process, or that chose the chat while
the ban was being stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from . import tasks
from .broker import Event
from .errors import Unavailable
from .model import now_ms

log = logging.getLogger(__name__)

#: seconds between two readings of every sanction from the database
REFRESH = 60.0

#: (kind: "ban" or "mute", chat id, user id, end in ms or None: until lifted)
SanctionRow = tuple[str, int, int, int | None]
#: reads every sanction in force at a time (``Store.sanctions``)
ReadSanctions = Callable[[int], Awaitable[list[SanctionRow]]]

#: the broker events that set a sanction, and those that lift one
_SET = {"ban": "ban", "mute": "mute"}
_LIFT = {"unban": "ban", "unmute": "mute"}


class Sanctions:
    """The sanctions in force, by (kind, chat id, user id): when each ends (None: when
    lifted)."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        #: milliseconds since the epoch (a test moves it by hand)
        self.clock = clock
        self._until: dict[tuple[str, int, int], int | None] = {}
        #: the events delivered while a reading is under way (None: none is), applied
        #: again on top of what it read, which may predate them
        self._during: list[Event] | None = None
        self._task: asyncio.Task[None] | None = None

    def muted(self, chat_id: int, user_id: int) -> bool:
        """The user is muted in the chat now."""
        return bool(self._until) and self._holds(("mute", chat_id, user_id))

    def banned(self, chat_id: int, user_id: int) -> bool:
        """The user is banned from the chat now, as far as this process knows."""
        return bool(self._until) and self._holds(("ban", chat_id, user_id))

    def _holds(self, key: tuple[str, int, int]) -> bool:
        """In force now; an ended one is forgotten here."""
        if key not in self._until:
            return False
        until = self._until[key]
        if until is None or until > self.clock():
            return True
        del self._until[key]
        return False

    def delivered(self, event: Event) -> None:
        """A ``ban``, ``unban``, ``mute`` or ``unmute`` event, from any process."""
        if self._during is not None:
            self._during.append(event)
        self._apply(event)

    def _apply(self, event: Event) -> None:
        if event.sender is None:
            return
        if event.kind in _SET:
            self._until[(_SET[event.kind], event.chat_id, event.sender)] = event.until
        elif event.kind in _LIFT:
            self._until.pop((_LIFT[event.kind], event.chat_id, event.sender), None)

    async def reload(self, read: ReadSanctions) -> None:
        """Read every sanction in force from the database, then apply again the events
        delivered meanwhile (a reading that started before their commit lacks them)."""
        self._during = []
        try:
            rows = await read(self.clock())
        finally:
            during, self._during = self._during, None
        self._until = {(kind, chat_id, user_id): until
                       for kind, chat_id, user_id, until in rows}
        for event in during:
            self._apply(event)

    async def start(self, read: ReadSanctions, every: float = REFRESH) -> None:
        """Load the sanctions (the broker already delivering), then read them again every
        ``every`` seconds until :meth:`close`."""
        await self.reload(read)
        self._task = asyncio.create_task(self._refresh(read, every), name="sanctions")

    async def _refresh(self, read: ReadSanctions, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.reload(read)
            except Unavailable:
                log.warning("reading the sanctions failed; the map stays as it was")

    async def close(self) -> None:
        await tasks.stop(self._task)
        self._task = None

    def __len__(self) -> int:
        return len(self._until)
