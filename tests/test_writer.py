"""parley.writer.MessageWriter with a real SqlStore on SQLite."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from conftest import PG_URL, Postgres, unavailable
from parley.errors import Unavailable
from parley.model import Chat, Draft, Stored, User
from parley.store import SqlStore
from parley.writer import MessageWriter

T0 = 1_795_534_662_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    yield opened
    await opened.close()


@pytest.fixture
async def room(store: SqlStore) -> tuple[Chat, User]:
    alice = await store.create_user("alice", "alice", "hash")
    assert alice is not None
    chat = await store.create_chat("room", alice.id, None)
    assert chat is not None
    return chat, alice


def draft(room: tuple[Chat, User], text: str, nonce: str | None = None) -> Draft:
    chat, user = room
    return Draft(chat_id=chat.id, chat=chat.name, user_id=user.id, login=user.login, text=text,
                 image=None, image_size=0, image_data=None, nonce=nonce, created_ms=T0)


class Recorder:
    """An ``on_stored`` that keeps every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str | None, Stored]]] = []

    def __call__(self, drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
        self.batches.append([(d.text, r) for d, r in zip(drafts, results, strict=True)])


class FailingStore:
    """A database that is down: every insert fails as SqlStore's do."""

    def __init__(self, failures: int = 10**9, then: SqlStore | None = None) -> None:
        self.failures = failures
        self.then = then
        self.calls = 0

    async def insert_messages(self, drafts: Sequence[Draft]) -> list[Stored]:
        self.calls += 1
        if self.calls <= self.failures or self.then is None:
            raise Unavailable()
        return await self.then.insert_messages(drafts)


async def test_one_message(store: SqlStore, room: tuple[Chat, User]) -> None:
    recorder = Recorder()
    writer = MessageWriter(store, recorder)
    writer.start()
    stored = await writer.submit(draft(room, "hi"))
    await writer.close()
    assert stored.message is not None
    assert (stored.message.id, stored.message.text, stored.duplicate) == (1, "hi", False)
    assert recorder.batches == [[("hi", stored)]]


async def test_concurrent_submits_in_one_batch_in_order(
    store: SqlStore, room: tuple[Chat, User]
) -> None:
    recorder = Recorder()
    writer = MessageWriter(store, recorder)
    writer.start()
    results = await asyncio.gather(*(writer.submit(draft(room, f"m{i}")) for i in range(10)))
    await writer.close()
    assert [(r.message.id, r.message.text) for r in results if r.message] == [
        (i + 1, f"m{i}") for i in range(10)]
    assert recorder.batches == [[(f"m{i}", r) for i, r in enumerate(results)]]
    chat, _ = room
    assert [m.text for m in await store.history(chat.id, limit=30)] == [
        f"m{i}" for i in range(10)]


async def test_max_batch(store: SqlStore, room: tuple[Chat, User]) -> None:
    recorder = Recorder()
    writer = MessageWriter(store, recorder, max_batch=3)
    writer.start()
    results = await asyncio.gather(*(writer.submit(draft(room, f"m{i}")) for i in range(10)))
    await writer.close()
    assert [len(batch) for batch in recorder.batches] == [3, 3, 3, 1]
    assert [r for batch in recorder.batches for _, r in batch] == results
    assert [r.message.id for r in results if r.message] == list(range(1, 11))


async def test_idle_waits_for_what_was_submitted_not_for_what_keeps_coming(
    store: SqlStore, room: tuple[Chat, User]
) -> None:
    """Senders that send again as each message is stored (clients sending on every
    acknowledgement, as when a server shuts down under load) keep the queue from ever
    being empty: idle returns once what was submitted before it is stored."""
    follow: list[asyncio.Future[Stored]] = []
    all_sent = asyncio.Event()
    recorder = Recorder()

    def again(drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
        recorder(drafts, results)
        for _ in drafts:
            if len(follow) < 200:
                follow.append(asyncio.ensure_future(
                    writer.submit(draft(room, f"f{len(follow)}"))))
        if len(follow) == 200:
            all_sent.set()

    writer = MessageWriter(store, again, max_batch=2)
    writer.start()
    first = [asyncio.ensure_future(writer.submit(draft(room, f"m{i}"))) for i in range(4)]
    await asyncio.sleep(0)  # the four are submitted
    async with asyncio.timeout(10):
        await writer.idle()
    assert all(f.done() for f in first)
    assert [f.result().message.text for f in first if f.result().message] == [
        "m0", "m1", "m2", "m3"]
    assert not all(f.done() for f in follow)  # the stream goes on
    async with asyncio.timeout(30):
        await all_sent.wait()
        await asyncio.gather(*follow)
    await writer.close()
    chat, _ = room
    assert len(await store.history(chat.id, limit=300)) == 204


async def test_on_stored_runs_after_commit(
    store: SqlStore, room: tuple[Chat, User], tmp_path: Path
) -> None:
    seen: list[list[tuple[int, str]]] = []

    def on_stored(drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
        # A second connection sees the rows: they are committed already.
        with sqlite3.connect(tmp_path / "t.db") as db:
            rows = db.execute("SELECT id, text FROM messages ORDER BY id").fetchall()
        db.close()
        seen.append(rows)

    writer = MessageWriter(store, on_stored)
    writer.start()
    await asyncio.gather(writer.submit(draft(room, "a")), writer.submit(draft(room, "b")))
    await writer.close()
    assert seen == [[(1, "a"), (2, "b")]]


async def test_on_stored_gets_duplicates_and_missing_chats(
    store: SqlStore, room: tuple[Chat, User]
) -> None:
    recorder = Recorder()
    writer = MessageWriter(store, recorder)
    writer.start()
    ghost = (Chat(999, "ghost", None, None), room[1])
    first, ghost_result, again = await asyncio.gather(
        writer.submit(draft(room, "a", nonce="n")),
        writer.submit(draft(ghost, "lost")),
        writer.submit(draft(room, "a", nonce="n")),
    )
    await writer.close()
    assert ghost_result == Stored(None)
    assert again == Stored(first.message, duplicate=True)
    assert recorder.batches == [[("a", first), ("lost", Stored(None)), ("a", again)]]


async def test_close_stores_what_is_queued(store: SqlStore, room: tuple[Chat, User]) -> None:
    recorder = Recorder()
    writer = MessageWriter(store, recorder)
    writer.start()
    tasks = [asyncio.create_task(writer.submit(draft(room, f"m{i}"))) for i in range(3)]
    await asyncio.sleep(0)  # the submits are queued, not yet written
    await writer.close()
    assert all(task.done() for task in tasks)
    assert [t.result().message.id for t in tasks if t.result().message] == [1, 2, 3]
    chat, _ = room
    assert len(await store.history(chat.id, limit=30)) == 3


async def test_submit_after_close(store: SqlStore, room: tuple[Chat, User]) -> None:
    writer = MessageWriter(store, Recorder())
    writer.start()
    await writer.close()
    with pytest.raises(RuntimeError, match="the writer is closed"):
        await writer.submit(draft(room, "late"))


async def test_store_unavailable(room: tuple[Chat, User]) -> None:
    recorder = Recorder()
    writer = MessageWriter(FailingStore(), recorder)  # type: ignore[arg-type]
    writer.start()
    results = await asyncio.gather(
        *(writer.submit(draft(room, f"m{i}")) for i in range(3)), return_exceptions=True)
    await writer.close()
    assert [type(r) for r in results] == [Unavailable, Unavailable, Unavailable]
    assert recorder.batches == []


async def test_writer_carries_on_after_the_store_failed(
    store: SqlStore, room: tuple[Chat, User]
) -> None:
    recorder = Recorder()
    writer = MessageWriter(FailingStore(failures=1, then=store), recorder)  # type: ignore[arg-type]
    writer.start()
    with pytest.raises(Unavailable):
        await writer.submit(draft(room, "lost"))
    stored = await writer.submit(draft(room, "kept"))
    await writer.close()
    assert stored.message is not None
    assert (stored.message.id, stored.message.text) == (1, "kept")
    assert recorder.batches == [[("kept", stored)]]


async def test_failing_on_stored_still_answers_senders(
    store: SqlStore, room: tuple[Chat, User], caplog: pytest.LogCaptureFixture
) -> None:
    def on_stored(drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
        raise RuntimeError("fan-out broke")

    writer = MessageWriter(store, on_stored)
    writer.start()
    with caplog.at_level(logging.ERROR, logger="parley.writer"):
        stored = await writer.submit(draft(room, "hi"))
    await writer.close()
    assert stored.message is not None
    assert stored.message.id == 1
    assert [r.getMessage() for r in caplog.records] == ["delivering stored messages failed"]


# --------------------------------------------------------------------------- one bad message


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: Postgres
) -> AsyncIterator[tuple[SqlStore, str]]:
    """A real store on each database, and a text that database really cannot store."""
    if request.param == "sqlite":
        opened = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
        poison = "lone \ud800 surrogate"  # not encodable as UTF-8
    else:
        if not postgres.reachable():
            unavailable(f"PostgreSQL at {PG_URL}")
        opened = await SqlStore.open(postgres.new_database())
        poison = "nul \x00 character"  # PostgreSQL text cannot hold U+0000
    yield opened, poison
    await opened.close()


async def test_one_bad_message_fails_alone(any_store: tuple[SqlStore, str]) -> None:
    store, poison = any_store
    alice = await store.create_user("alice", "alice", "hash")
    bob = await store.create_user("bob", "bob", "hash")
    assert alice is not None
    assert bob is not None
    chat = await store.create_chat("room", alice.id, None)
    assert chat is not None
    other = await store.create_chat("other", bob.id, None)
    assert other is not None
    recorder = Recorder()
    writer = MessageWriter(store, recorder)
    writer.start()
    results = await asyncio.gather(
        writer.submit(draft((chat, alice), "a1")),
        writer.submit(draft((other, bob), "b1", nonce="n")),
        writer.submit(draft((chat, bob), poison)),
        writer.submit(draft((chat, alice), "a2")),
        writer.submit(draft((other, bob), "b1", nonce="n")),  # a retry of b1
        return_exceptions=True,
    )
    await writer.close()
    a1, b1, bad, a2, b1_again = results
    assert isinstance(bad, Exception)
    assert not isinstance(a1, BaseException)
    assert not isinstance(b1, BaseException)
    assert not isinstance(a2, BaseException)
    assert b1_again == Stored(b1.message, duplicate=True)
    assert [(r.message.id, r.message.text) for r in (a1, b1, a2) if r.message] == [
        (1, "a1"), (1, "b1"), (2, "a2")]
    # published one by one, in the order they were sent; the bad one not at all
    assert recorder.batches == [[("a1", a1)], [("b1", b1)], [("a2", a2)],
                                [("b1", b1_again)]]
    assert [m.text for m in await store.history(chat.id, limit=30)] == ["a1", "a2"]
    assert [m.text for m in await store.history(other.id, limit=30)] == ["b1"]


async def test_a_database_that_is_down_is_not_retried_message_by_message(
    room: tuple[Chat, User]
) -> None:
    failing = FailingStore()
    writer = MessageWriter(failing, Recorder())  # type: ignore[arg-type]
    writer.start()
    results = await asyncio.gather(
        *(writer.submit(draft(room, f"m{i}")) for i in range(5)), return_exceptions=True)
    await writer.close()
    assert [type(r) for r in results] == [Unavailable] * 5
    assert failing.calls == 1
