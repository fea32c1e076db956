"""Batches changes to messages (edits, removals, reactions) from all users into one
transaction, as :class:`~parley.writer.MessageWriter` does for new messages.

Requesters :meth:`ChangeWriter.submit` a :class:`~parley.model.ChangeOp` and wait.
One task takes every change waiting at that moment (up to ``max_batch``) and stores
them in one transaction, in order (:func:`parley.change_rows.apply`), then wakes each
requester with its outcome: the stored change, or the refusal it raises. A busy chat
thus commits many changes per disk sync, and an idle one each change at once. When a
batch fails for a value it held, its changes are stored again one at a time, so that
one change never fails another; when the database is unreachable, all of them fail.
"""

from __future__ import annotations

import asyncio
import logging

from .change_rows import ChangeStore, Outcome
from .errors import ParleyError
from .model import Change, ChangeOp
from .writer import about_a_message

log = logging.getLogger(__name__)

_Waiting = list[tuple[ChangeOp, "asyncio.Future[Outcome]"]]


class ChangeWriter:
    def __init__(self, store: ChangeStore, *, max_batch: int = 256) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: _Waiting = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="change-writer")

    async def submit(self, op: ChangeOp) -> Change | None:
        """Store the change: the change stored, None when its chat is gone; a refusal
        (:class:`~parley.errors.ParleyError`) is raised, and nothing was stored."""
        if self._closing:
            raise RuntimeError("the change writer is closed")
        if self._task is None:  # (not started: a store of its own, as in some tests)
            [outcome] = await self._store.apply_changes([op])
        else:
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            self._queue.append((op, future))
            self._wakeup.set()
            outcome = await future
        if isinstance(outcome, ParleyError):
            raise outcome
        return outcome

    async def close(self) -> None:
        """Store what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: _Waiting) -> None:
        try:
            outcomes = await self._store.apply_changes([op for op, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and about_a_message(exc):
                for one in batch:
                    await self._write([one])
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
