"""The ``control`` table in this process, on SQLite and PostgreSQL: a reader starts after
the rows already there, delivers each new row once, in id order, waits for an id
committed late (out of id order), skips a row it cannot read, and the writer deletes
rows older than an hour. And the coalesced ``users.seen_ms`` writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import Backend
from parley import control
from parley.broker import Event, user_event
from parley.config import normalize_database_url
from parley.schema import control as table
from parley.schema import users
from parley.seen import LastSeen
from parley.store import SqlStore


@pytest.fixture
async def store(backend: Backend, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if backend.postgres is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    else:
        url = normalize_database_url(backend.postgres.new_database())
    opened = await SqlStore.open(url)
    yield opened
    await opened.close()


def event(n: int) -> Event:
    return user_event(n, b"reason", close=4003)


async def write(store: SqlStore, *events: Event, at: int = 10**13) -> None:
    async with store.engine.begin() as conn:
        await control.write(conn, events, at)


async def put(store: SqlStore, row_id: int, data: bytes, at: int = 10**13) -> None:
    """A row of a chosen id (as a writer that committed late would leave it)."""
    async with store.engine.begin() as conn:
        await conn.execute(table.insert().values(id=row_id, created_ms=at, event=data))


async def test_a_reader_delivers_each_new_row_once_in_order(store: SqlStore) -> None:
    await write(store, event(1), event(2))  # before the reader starts: history
    got: list[Event] = []
    reader = control.ControlReader(store.engine, got.append, poll=3600)
    await reader.start()
    try:
        assert reader.last == 2
        assert await reader.read() == 0
        await write(store, event(3))
        await write(store, event(4), event(5))
        assert await reader.read() == 3
        assert got == [event(3), event(4), event(5)]
        assert await reader.read() == 0
        assert got == [event(3), event(4), event(5)]
    finally:
        await reader.close()


async def test_an_id_committed_late_is_still_delivered(store: SqlStore) -> None:
    got: list[Event] = []
    reader = control.ControlReader(store.engine, got.append, poll=3600)
    await reader.start()
    try:
        encode = control._encode
        await put(store, 1, encode(event(1)))
        await put(store, 4, encode(event(4)))
        assert await reader.read() == 2  # 2 and 3 are awaited
        await put(store, 3, encode(event(3)))
        assert await reader.read() == 1
        await put(store, 2, b"not an event")  # skipped, with a warning
        assert await reader.read() == 0
        assert got == [event(1), event(4), event(3)]
        assert await reader.read() == 0
    finally:
        await reader.close()


async def test_the_writer_deletes_rows_older_than_an_hour(store: SqlStore) -> None:
    now = 10**13
    await write(store, event(1), at=now - control.KEEP_MS - 1)
    await write(store, event(2), at=now - control.KEEP_MS)
    await write(store, event(3), at=now)
    async with store.engine.connect() as conn:
        kept = (await conn.execute(sa.select(table.c.created_ms).order_by(table.c.id))).all()
    assert [row[0] for row in kept] == [now - control.KEEP_MS, now]


async def test_sightings_are_written_together(store: SqlStore) -> None:
    ids = [(await store.create_user(f"u{n}", f"u{n}", "x")) for n in range(3)]
    seen = LastSeen(store, every=3600)
    for user in ids[:2]:
        assert user is not None
        seen.mark(user.id)
    marked = dict(seen.due)
    await seen.flush()
    assert seen.due == {}
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(users.c.login, users.c.seen_ms)
                                   .order_by(users.c.id))).all()
    assert [tuple(r) for r in rows] == [
        ("u0", marked[ids[0].id]), ("u1", marked[ids[1].id]), ("u2", None)]  # type: ignore[union-attr]
