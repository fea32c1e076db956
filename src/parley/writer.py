"""Batches messages from all senders into one transaction.

Senders :meth:`MessageWriter.submit` a draft and wait. One task takes every
draft waiting at that moment (up to ``max_batch``), stores them in one
transaction, and only after the commit calls ``on_stored`` with the results,
in order, then wakes each sender. A busy server therefore commits many
messages per disk sync, and an idle one commits each message at once.

When a batch fails because of what a message holds (the database refuses a
value), the writer stores the batch's messages again one at a time, so that
only the bad message fails: one user's message never fails another's. When it
fails because the database is unreachable, the whole batch fails at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .batches import Batcher, fail
from .errors import Unavailable
from .model import Draft, Stored
from .store import Store

log = logging.getLogger(__name__)

OnStored = Callable[[Sequence[Draft], Sequence[Stored]], None]


class MessageWriter(Batcher[Draft, Stored]):
    name = "message-writer"
    what = "writer"

    def __init__(self, store: Store, on_stored: OnStored, *, max_batch: int = 512) -> None:
        super().__init__(max_batch=max_batch)
        self._store = store
        self._on_stored = on_stored

    async def write(self, batch: list[tuple[Draft, asyncio.Future[Stored]]]) -> None:
        drafts = [draft for draft, _ in batch]
        try:
            results = await self._store.insert_messages(drafts)
        except Exception as exc:
            if len(batch) > 1 and about_a_message(exc):
                await self._one_by_one(batch)
            else:
                fail(batch, exc)
            return
        self._done(batch, drafts, results)

    async def _one_by_one(self, batch: list[tuple[Draft, asyncio.Future[Stored]]]) -> None:
        """Store each message of a failed batch alone, in order: only a bad one fails.
        If the database goes away meanwhile, the rest fail at once."""
        for index, (draft, future) in enumerate(batch):
            try:
                results = await self._store.insert_messages([draft])
            except Exception as exc:
                if not about_a_message(exc):
                    fail(batch[index:], exc)
                    return
                log.warning("a message could not be stored: %s", type(exc).__name__)
                fail([(draft, future)], exc)
                continue
            self._done([(draft, future)], [draft], results)

    def _done(self, batch: list[tuple[Draft, asyncio.Future[Stored]]],
              drafts: list[Draft], results: list[Stored]) -> None:
        try:
            self._on_stored(drafts, results)
        except Exception:
            log.exception("delivering stored messages failed")
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def about_a_message(exc: BaseException) -> bool:
    """Whether a failed insert was refused for a value it held (worth storing the batch's
    messages one by one), rather than for the database being unreachable or busy."""
    if isinstance(exc, Unavailable):
        cause = exc.__cause__
        if cause is None:
            return False
        exc = cause
    if isinstance(exc, DBAPIError):
        return not (isinstance(exc, OperationalError | InterfaceError)
                    or exc.connection_invalidated)
    return isinstance(exc, ValueError | TypeError)
