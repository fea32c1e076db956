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

from .batches import Batcher, fail
from .change_rows import ChangeStore, Outcome
from .errors import ParleyError
from .model import Change, ChangeOp
from .writer import about_a_message

log = logging.getLogger(__name__)

_Waiting = list[tuple[ChangeOp, "asyncio.Future[Outcome]"]]


class ChangeWriter(Batcher[ChangeOp, Outcome]):
    name = "change-writer"
    what = "change writer"

    def __init__(self, store: ChangeStore, *, max_batch: int = 256) -> None:
        super().__init__(max_batch=max_batch)
        self._store = store

    async def change(self, op: ChangeOp) -> Change | None:
        """Store the change: the change stored, None when its chat is gone; a refusal
        (:class:`~parley.errors.ParleyError`) is raised, and nothing was stored."""
        if not self.started:  # (a store of its own, as in some tests)
            [outcome] = await self._store.apply_changes([op])
        else:
            outcome = await self.submit(op)
        if isinstance(outcome, ParleyError):
            raise outcome
        return outcome

    async def write(self, batch: _Waiting) -> None:
        try:
            outcomes = await self._store.apply_changes([op for op, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and about_a_message(exc):
                for one in batch:
                    await self.write([one])
            else:
                fail(batch, exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
