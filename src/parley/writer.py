"""Batches messages from all senders into one transaction.

Senders :meth:`MessageWriter.submit` a draft and wait. One task takes every
draft waiting at that moment (up to ``max_batch``), stores them in one
transaction, and only after the commit calls ``on_stored`` with the results,
in order, then wakes each sender. A busy server therefore commits many
messages per disk sync, and an idle one commits each message at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from .store import Draft, Store, Stored

log = logging.getLogger(__name__)

OnStored = Callable[[Sequence[Draft], Sequence[Stored]], None]


class MessageWriter:
    def __init__(self, store: Store, on_stored: OnStored, *, max_batch: int = 512) -> None:
        self._store = store
        self._on_stored = on_stored
        self._max_batch = max_batch
        self._queue: list[tuple[Draft, asyncio.Future[Stored]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-writer")

    async def submit(self, draft: Draft) -> Stored:
        if self._closing:
            raise RuntimeError("the writer is closed")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        self._idle.clear()
        self._wakeup.set()
        return await future

    async def idle(self) -> None:
        """Wait until every message submitted so far is stored (or failed)."""
        await self._idle.wait()

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
            self._idle.set()
            if self._closing:
                return

    async def _write(self, batch: list[tuple[Draft, asyncio.Future[Stored]]]) -> None:
        drafts = [draft for draft, _ in batch]
        try:
            results = await self._store.insert_messages(drafts)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        try:
            self._on_stored(drafts, results)
        except Exception:
            log.exception("delivering stored messages failed")
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
