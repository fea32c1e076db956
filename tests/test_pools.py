"""The bounded work pools: refusal when full, costs released when a job ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from parley.errors import RateLimited
from parley.pools import WorkPool


async def test_a_full_pool_refuses_at_once_and_takes_work_again_when_free() -> None:
    pool = WorkPool("t", threads=1, queue=1)
    gate = threading.Event()
    try:
        running = asyncio.ensure_future(pool.run(gate.wait, 5))
        waiting = asyncio.ensure_future(pool.run(lambda: 2))
        await asyncio.sleep(0)
        assert pool.jobs == 2
        with pytest.raises(RateLimited):
            await pool.run(lambda: 3)
        gate.set()
        assert await running is True
        assert await waiting == 2
        await asyncio.sleep(0.01)  # the release is scheduled from the worker thread
        assert (pool.jobs, pool.spent) == (0, 0)
        assert await pool.run(lambda: 4) == 4
    finally:
        gate.set()
        pool.close()


async def test_the_budget_bounds_the_cost_under_way() -> None:
    pool = WorkPool("t", threads=2, queue=4, budget=100)
    gate = threading.Event()
    try:
        big = asyncio.ensure_future(pool.run_costing(80, gate.wait, 5))
        await asyncio.sleep(0)
        with pytest.raises(RateLimited):
            await pool.run_costing(30, lambda: 1)
        assert await pool.run_costing(20, lambda: 1) == 1
        gate.set()
        await big
        await asyncio.sleep(0.01)
        # alone, one job may spend more than the whole budget
        assert await pool.run_costing(500, lambda: 7) == 7
    finally:
        gate.set()
        pool.close()


async def test_a_cancelled_caller_keeps_the_cost_until_the_thread_is_done() -> None:
    pool = WorkPool("t", threads=1, queue=0, budget=10)
    gate = threading.Event()
    try:
        job = asyncio.ensure_future(pool.run_costing(10, gate.wait, 5))
        await asyncio.sleep(0)
        job.cancel()
        await asyncio.sleep(0.01)
        assert (pool.jobs, pool.spent) == (1, 10)
        with pytest.raises(RateLimited):
            await pool.run(lambda: 1)
        gate.set()
        for _ in range(100):
            if pool.jobs == 0:
                break
            await asyncio.sleep(0.01)
        assert (pool.jobs, pool.spent) == (0, 0)
    finally:
        gate.set()
        pool.close()
