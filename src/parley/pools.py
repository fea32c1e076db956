"""Small thread pools of their own for blocking work, each with a bounded queue.

Password hashing and image decoding are slow on purpose or by nature. Each
kind gets a :class:`WorkPool` of a few threads, so that one kind can never
starve the other, nor the event loop's default executor (the database driver
and file I/O use that one). A pool refuses work at once, with
:class:`~parley.errors.RateLimited`, when its queue is full or when the work's
declared ``cost`` (for example bytes of memory) would pass the pool's budget:
a flood gets ``rate limited`` answers instead of an ever longer queue.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from .errors import RateLimited

P = ParamSpec("P")
T = TypeVar("T")


class WorkPool:
    """``threads`` workers; at most ``queue`` jobs waiting behind them; jobs' costs
    under way together at most ``budget`` (0: no budget)."""

    def __init__(self, name: str, *, threads: int, queue: int, budget: int = 0) -> None:
        self.name = name
        self.threads = threads
        self.queue = queue
        self.budget = budget
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        #: jobs accepted and not finished (running or waiting)
        self.jobs = 0
        #: cost of the accepted jobs not finished
        self.spent = 0

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` in the pool at cost 1; see :meth:`run_costing`."""
        return await self.run_costing(1, fn, *args, **kwargs)

    async def run_costing(
        self, cost: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(*args, **kwargs)`` in a thread of this pool, or raise
        :class:`RateLimited` at once when the pool is full."""
        if self.jobs >= self.threads + self.queue:
            raise RateLimited()
        if self.budget and self.spent + cost > self.budget and self.jobs > 0:
            raise RateLimited()  # (alone, a job may spend the whole budget)
        self.jobs += 1
        self.spent += cost
        loop = asyncio.get_running_loop()
        try:
            job = self._executor.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._finished(cost)
            raise
        # The job's cost is released when its thread is done with it, not when the
        # caller stops waiting (a closed socket does not stop a decode under way).
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished, cost))
        return await asyncio.wrap_future(job)

    def _finished(self, cost: int) -> None:
        self.jobs -= 1
        self.spent -= cost

    def close(self) -> None:
        """Stop the threads once the work under way is done."""
        self._executor.shutdown(wait=True, cancel_futures=True)
