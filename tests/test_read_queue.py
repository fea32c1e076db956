"""The read queue: turns in order, identical waiting reads joined (never a started one),
a read carried to its end when its asker is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from parley.read_queue import ReadQueue


class Reads:
    """Reads that wait to be let through, each recording when it started."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.done: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    def read(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def of(self, name: str, result: object = None) -> object:
        async def run() -> object:
            self.started.append(name)
            await self.read(name).wait()
            self.done.append(name)
            return name if result is None else result
        return run


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reads_take_their_turns_in_order() -> None:
    queue, reads = ReadQueue(1), Reads()
    tasks = [asyncio.ensure_future(queue.run(name, reads.of(name))) for name in "abc"]
    await settle()
    assert reads.started == ["a"]
    for name in "abc":
        reads.read(name).set()
        await settle()
    assert [await task for task in tasks] == ["a", "b", "c"]
    assert reads.started == ["a", "b", "c"]


async def test_an_identical_waiting_read_is_joined_but_a_started_one_is_not() -> None:
    queue, reads = ReadQueue(1), Reads()
    first = asyncio.ensure_future(queue.run("k", reads.of("k")))
    await settle()
    assert reads.started == ["k"]  # started: the next asker of "k" waits for its own read
    second = asyncio.ensure_future(queue.run("k", reads.of("k2", "k")))
    third = asyncio.ensure_future(queue.run("k", reads.of("k3", "k")))
    await settle()
    reads.read("k").set()
    reads.read("k2").set()
    assert (await first, await second, await third) == ("k", "k", "k")
    assert reads.started == ["k", "k2"]  # the third joined the second, which was waiting
    assert (queue.asked, queue.joined, queue.waiting) == (3, 1, 0)


async def test_a_cancelled_asker_leaves_its_read_running_and_shared() -> None:
    queue, reads = ReadQueue(1), Reads()
    first = asyncio.ensure_future(queue.run("a", reads.of("a")))
    waiting = asyncio.ensure_future(queue.run("b", reads.of("b")))
    await settle()
    joined = asyncio.ensure_future(queue.run("b", reads.of("never")))
    await settle()
    first.cancel()
    waiting.cancel()
    await settle()
    assert reads.started == ["a"]
    assert reads.done == []
    reads.read("a").set()
    reads.read("b").set()
    assert await joined == "b"  # the cancelled asker's read still ran, for the other asker
    assert reads.done == ["a", "b"]
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failure_reaches_every_asker() -> None:
    queue = ReadQueue(1)
    gate = asyncio.Event()

    async def failing() -> None:
        await gate.wait()
        raise LookupError("gone")

    blocker = asyncio.ensure_future(queue.run("x", gate.wait))
    askers = [asyncio.ensure_future(queue.run("f", failing)) for _ in range(3)]
    await settle()
    gate.set()
    await blocker
    for asker in askers:
        with pytest.raises(LookupError):
            await asker
    assert queue.joined == 2


async def test_different_reads_one_query_can_answer_are_merged_while_waiting() -> None:
    queue = ReadQueue(1)
    gate = asyncio.Event()
    asked: list[list[object]] = []

    async def read_all(items: list[object]) -> list[object]:
        asked.append(list(items))
        return sorted(items, key=str)

    blocker = asyncio.ensure_future(queue.run("x", gate.wait))
    askers = [asyncio.ensure_future(queue.merged("k", n, read_all)) for n in (3, 1, 2)]
    await settle()
    gate.set()
    await blocker
    assert [await asker for asker in askers] == [[1, 2, 3]] * 3
    later = await queue.merged("k", 9, read_all)  # (a new read: the last one ended)
    assert (asked, later) == ([[3, 1, 2], [9]], [9])
