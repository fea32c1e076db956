"""The store as the server uses it (SQLite files): pages after different ids of one chat,
asked together while the queue is full, answered by one read and each exactly as the
plain store answers it, with gaps in the ids too; token logins kept and forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.queued_store import QueuedStore
from test_store import fill, new_chat, new_user, url


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QueuedStore]:
    opened = await QueuedStore.open(url(tmp_path / "t.db"))
    yield opened
    await opened.close()


async def test_pages_after_different_ids_asked_together_are_each_exact(
    store: QueuedStore,
) -> None:
    chat = await new_chat(store)
    await fill(store, chat, await new_user(store), 450)
    async with store.engine.begin() as conn:  # gaps: removed rows
        await conn.exec_driver_sql("DELETE FROM messages WHERE id IN (5, 6, 7, 150, 151, 300)")
    # every slot busy: the pages asked meanwhile wait, and join one read
    gate = asyncio.Event()
    busy = [asyncio.ensure_future(store.reads.run(("busy", n), gate.wait))
            for n in range(store.reads.limit)]
    afters = [0, 3, 4, 100, 149, 299, 350, 449, 450, 1000, 3]
    pages = [asyncio.ensure_future(store.history(chat.id, after=after, limit=100))
             for after in afters]
    await asyncio.sleep(0.01)
    assert store.reads.waiting == 1
    gate.set()
    await asyncio.gather(*busy)
    got = await asyncio.gather(*pages)
    for after, page in zip(afters, got, strict=True):
        assert page == await super(QueuedStore, store).history(chat.id, after=after, limit=100)
    assert [len(page) for page in got] == [100, 100, 100, 100, 100, 100, 100, 1, 0, 0, 100]


async def test_a_kept_token_is_forgotten_when_revoked(store: QueuedStore) -> None:
    alice = await new_user(store)
    await store.add_token("d" * 64, alice.id, 99_999_999_999_999)
    await store.add_token("e" * 64, alice.id, 99_999_999_999_999)
    for _ in range(2):
        assert await store.user_by_token("d" * 64) == alice
    assert store.tokens.hits == 1
    await store.revoke_token("d" * 64)
    assert await store.user_by_token("d" * 64) is None
    assert await store.user_by_token("e" * 64) == alice
    await store.revoke_user_tokens(alice.id)
    assert await store.user_by_token("e" * 64) is None
