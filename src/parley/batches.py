"""One task that stores what many requesters wait for, a batch per transaction.

Requesters :meth:`Batcher.submit` an item and wait. The batcher's task takes every
item waiting at that moment (up to ``max_batch``) and hands them to :meth:`Batcher.write`
as one batch, which settles each item's future. A busy server thus commits many items
per disk sync, and an idle one each item at once. The message writer
(:mod:`parley.writer`) and the change writer (:mod:`parley.change_writer`) are the two.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    #: the task's name, and what the batcher is called in its errors
    name = "batcher"
    what = "batcher"

    def __init__(self, *, max_batch: int) -> None:
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._writing: list[tuple[T, asyncio.Future[R]]] = []  # the batch being written

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    @property
    def started(self) -> bool:
        return self._task is not None

    async def submit(self, item: T) -> R:
        """Queue the item; its result once its batch is written (or the batch's error)."""
        if self._closing:
            raise RuntimeError(f"the {self.what} is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def idle(self) -> None:
        """Wait until every item submitted so far is written (or failed). Items
        submitted meanwhile are not waited for: on a busy server new ones keep
        coming, and the queue may not be empty for a long time."""
        waiting = [future for _, future in (*self._writing, *self._queue)]
        if waiting:
            await asyncio.wait(waiting)

    async def close(self) -> None:
        """Write what is queued, then stop."""
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
                self._writing = batch
                try:
                    await self.write(batch)
                finally:
                    self._writing = []
            if self._closing:
                return

    async def write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Store the batch and settle every future in it."""
        raise NotImplementedError


def fail(batch: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
    """Every item of the batch fails with ``exc``."""
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
