"""An event loop in a thread of its own, for tests that Hypothesis drives synchronously
(the state machines): every rule runs its coroutine there with :meth:`LoopThread.run`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


class LoopThread:
    """An event loop running in a thread of its own; :meth:`run` blocks on a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def finish() -> None:
            await self.loop.shutdown_asyncgens()

        self.run(finish())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def run_machine(machine: Any, server: Any, *, examples: int, steps: int) -> None:
    """Run a state machine class (with ``server`` and ``loop`` class attributes) against a
    running server, its coroutines on a :class:`LoopThread` of its own."""
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    loop = LoopThread()
    machine.server = server
    machine.loop = loop
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow], database=None),
        )
    finally:
        loop.close()
