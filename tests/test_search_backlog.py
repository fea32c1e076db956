"""SQLite's search backlog (migration 0010, :mod:`parley.search_index`), on real SQLite
files: new messages wait in ``search_backlog`` and reach ``messages_fts`` after their
commit; a search first indexes what waits; edits, removals and deletions of waiting or
indexed messages never leave a stale entry (the index, read through ``fts5vocab``, is
compared with the messages' text); a reused rowid is indexed with its new message; what a stopped
server left waiting is indexed at the next start, within a second; and on a real
``parley serve``, a message is indexed within a second, and what waits when it is
killed is indexed when it starts again.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from conftest import Backend, ServerProcess
from parley import search_index
from parley.client import Client
from parley.model import Chat, Draft, User
from parley.search import words
from parley.store import SqlStore

T0 = 1_795_534_662_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}")
    yield opened
    await opened.close()


def db(store: SqlStore) -> sqlite3.Connection:
    """A plain connection to the store's file, to look at the tables themselves."""
    path = store.engine.url.database
    assert path is not None
    return sqlite3.connect(path)


def waiting(store: SqlStore) -> list[int]:
    with db(store) as conn:
        return [r[0] for r in conn.execute(
            "SELECT message_rowid FROM search_backlog ORDER BY message_rowid")]


def indexed(store: SqlStore, word: str) -> list[int]:
    """The rowids whose entry in ``messages_fts`` has the word (straight from the index,
    not through the messages' text)."""
    with db(store) as conn:
        return [r[0] for r in conn.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid",
            (f'"{word}"',))]


def integrity(store: SqlStore) -> None:
    """The invariant the triggers and the indexer keep: a message in the backlog has
    nothing in the index, any other exactly the words of its current text (read from
    FTS5's own index through ``fts5vocab``, against the messages' text). FTS5's
    structure is checked too. (The texts of these tests are lowercase-able ASCII words.)"""
    with db(store) as conn:
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.entries "
                     "USING fts5vocab(main, messages_fts, instance)")
        held = set(conn.execute("SELECT DISTINCT term, doc FROM temp.entries"))
        pending = {r[0] for r in conn.execute("SELECT message_rowid FROM search_backlog")}
        expected = {(word, rowid)
                    for rowid, text in conn.execute("SELECT rowid, text FROM messages")
                    if text is not None and rowid not in pending
                    for word in words(text)}
    assert held == expected


async def setup(store: SqlStore) -> tuple[User, Chat]:
    user = await store.create_user("alice", "alice", "hash")
    assert user is not None
    chat = await store.find_chat("general")
    assert chat is not None
    return user, chat


async def say(store: SqlStore, chat: Chat, user: User, *texts: str | None) -> list[int]:
    stored = await store.insert_messages([
        Draft(chat_id=chat.id, chat=chat.name, user_id=user.id, login=user.login, text=text,
              image=None if text is not None else "0123456789abcdef0123456789abcdef.png",
              image_size=0 if text is not None else 10, image_data=None, nonce=None,
              created_ms=T0 + i)
        for i, text in enumerate(texts)])
    return [s.message.id for s in stored if s.message is not None]


async def within_a_second(done: Callable[[], bool]) -> None:
    """Wait until ``done()``, which must come true within a second."""
    deadline = time.monotonic() + 1.0
    while not done():
        assert time.monotonic() < deadline, "not within a second"
        await asyncio.sleep(0.01)


def rowid(store: SqlStore, chat: Chat, message_id: int) -> int:
    with db(store) as conn:
        found = conn.execute("SELECT rowid FROM messages WHERE chat_id = ? AND id = ?",
                             (chat.id, message_id)).fetchone()
    assert found is not None
    return int(found[0])


async def found(store: SqlStore, user: User, query: str) -> list[str | None]:
    return [m.text for _, m in await store.search(user.id, words(query), limit=50)]


async def test_messages_wait_then_a_pass_indexes_them(store: SqlStore) -> None:
    await store.stop_indexer()
    alice, general = await setup(store)
    ids = await say(store, general, alice, "deploy tonight", None, "deploy done")
    rows = [rowid(store, general, i) for i in ids]
    # an image alone has no text: nothing to index, so it never waits
    assert waiting(store) == [rows[0], rows[2]]
    assert indexed(store, "deploy") == []
    assert await store.index_backlog() == 2
    assert waiting(store) == []
    assert indexed(store, "deploy") == [rows[0], rows[2]]
    assert await store.index_backlog() == 0
    integrity(store)


async def test_a_search_first_indexes_what_waits(store: SqlStore) -> None:
    await store.stop_indexer()
    alice, general = await setup(store)
    await say(store, general, alice, "alpha one", "alpha two")
    assert len(waiting(store)) == 2
    assert await found(store, alice, "alpha") == ["alpha two", "alpha one"]
    assert waiting(store) == []


async def test_a_pass_takes_at_most_a_chunk(store: SqlStore) -> None:
    await store.stop_indexer()
    alice, general = await setup(store)
    await say(store, general, alice, *(f"word{n}" for n in range(search_index.CHUNK + 5)))
    assert await store.index_backlog() == search_index.CHUNK
    assert len(waiting(store)) == 5
    # the search empties the rest before it reads
    assert await found(store, alice, "word1004") == ["word1004"]
    assert waiting(store) == []
    integrity(store)


async def test_edits_and_removals_of_waiting_messages(store: SqlStore) -> None:
    await store.stop_indexer()
    alice, general = await setup(store)
    first, second, third = await say(store, general, alice, "first draft", "gone soon",
                                      "kept")
    assert await store.edit(general.id, alice.id, first, "final version", T0 + 10)
    assert await store.remove(general.id, alice.id, second)
    # while waiting, the index holds nothing of them: the edit touched only the row
    assert indexed(store, "first") == indexed(store, "final") == indexed(store, "gone") == []
    integrity(store)
    await store.index_backlog()
    assert indexed(store, "first") == []
    assert indexed(store, "gone") == []
    assert indexed(store, "final") == [rowid(store, general, first)]
    assert await found(store, alice, "draft") == []
    assert await found(store, alice, "final") == ["final version"]
    assert await found(store, alice, "gone") == []
    # once indexed, an edit and a removal replace the entry in their own transaction
    assert await store.edit(general.id, alice.id, third, "changed", T0 + 11)
    assert indexed(store, "kept") == []
    assert indexed(store, "changed") == [rowid(store, general, third)]
    assert await store.remove(general.id, alice.id, first)
    assert indexed(store, "final") == []
    assert waiting(store) == []
    integrity(store)


async def test_deleted_messages_leave_the_backlog_and_reused_rowids(
        store: SqlStore) -> None:
    await store.stop_indexer()
    alice, general = await setup(store)
    team = await store.create_chat("team", alice.id, None)
    assert team is not None
    (old,) = await say(store, general, alice, "older words")
    await store.index_backlog()
    (pending,) = await say(store, team, alice, "pending words")
    reused = rowid(store, team, pending)
    assert waiting(store) == [reused]
    # deleting the chat deletes its waiting message: it leaves the backlog too
    assert await store.delete_chat(team.id)
    assert waiting(store) == []
    # SQLite hands the highest rowid out again: the new message is indexed as itself
    (new,) = await say(store, general, alice, "newer words")
    assert rowid(store, general, new) == reused
    await store.index_backlog()
    assert indexed(store, "pending") == []
    assert indexed(store, "newer") == [reused]
    assert indexed(store, "older") == [rowid(store, general, old)]
    integrity(store)


async def test_random_changes_keep_the_index_exact(store: SqlStore) -> None:
    """Inserts, edits, removals and index passes in random order: throughout, the index
    holds exactly what it must (:func:`integrity`), and at the end every search finds
    exactly the messages whose current text has the word."""
    await store.stop_indexer()
    alice, general = await setup(store)
    rng = random.Random(5)
    vocabulary = ["apple", "berry", "cherry", "damson", "elder"]
    alive: dict[int, str] = {}
    for _ in range(300):
        action = rng.random()
        if action < 0.45 or not alive:
            text = " ".join(rng.choices(vocabulary, k=3))
            (message_id,) = await say(store, general, alice, text)
            alive[message_id] = text
        elif action < 0.7:
            message_id = rng.choice(list(alive))
            text = " ".join(rng.choices(vocabulary, k=2))
            assert await store.edit(general.id, alice.id, message_id, text, T0)
            alive[message_id] = text
        elif action < 0.8:
            message_id = rng.choice(list(alive))
            assert await store.remove(general.id, alice.id, message_id)
            del alive[message_id]
        else:
            await store.index_backlog()
        if rng.random() < 0.05:
            integrity(store)
    for word in vocabulary:
        expected = sorted((i for i, text in alive.items() if word in text.split()),
                          reverse=True)
        got = await store.search(alice.id, [word], limit=1000)
        assert [m.id for _, m in got] == expected[:1000], word
    assert waiting(store) == []
    integrity(store)


async def test_what_waits_at_a_stop_is_indexed_at_the_next_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    store = await SqlStore.open(url)
    await store.stop_indexer()
    alice, general = await setup(store)
    await say(store, general, alice, "left behind", "also behind")
    assert len(waiting(store)) == 2
    await store.close()  # stopping indexes nothing: as if the process had died
    with sqlite3.connect(tmp_path / "parley.db") as conn:
        assert conn.execute("SELECT count(*) FROM search_backlog").fetchone() == (2,)
    store = await SqlStore.open(url)
    try:
        await within_a_second(lambda: not waiting(store))
        assert waiting(store) == []
        assert len(indexed(store, "behind")) == 2
        integrity(store)
    finally:
        await store.close()


async def test_the_indexer_takes_new_messages_within_a_second(store: SqlStore) -> None:
    alice, general = await setup(store)
    for round_ in range(3):
        (message_id,) = await say(store, general, alice, f"prompt{round_} words")
        await within_a_second(lambda w=f"prompt{round_}": bool(indexed(store, w)))
        assert indexed(store, f"prompt{round_}") == [rowid(store, general, message_id)]
    assert waiting(store) == []


async def test_a_served_server_indexes_within_a_second_and_at_its_next_start(
        tmp_path: Path) -> None:
    """A real ``parley serve`` on SQLite: each message reaches the index within a second
    of its broadcast, with no search to ask for it; killed (SIGKILL) with messages
    still waiting, the next start indexes them."""
    server = ServerProcess(tmp_path / "data", backend=Backend("sqlite")).start()
    try:
        async with await Client.connect(server.ws) as alice:
            assert (await alice.register("alice", "correct horse"))["Status"] == "success"
            await alice.send({"Type": "chat", "Command": "choice", "Chat": "general"})
            await alice.until(lambda f: f.get("Command") == "choice")
            for n in range(3):
                await alice.say(f"served{n} words")
                await alice.until(lambda f: f.get("Command") == "message")
                word = f"served{n}"
                await within_a_second(lambda w=word: _count(tmp_path, w) == 1)
    finally:
        server.kill()
    with sqlite3.connect(tmp_path / "data" / "parley.db") as conn:
        conn.execute("INSERT INTO messages_fts(messages_fts, rowid, text) "
                     "SELECT 'delete', rowid, text FROM messages WHERE text = 'served1 words'")
        conn.execute("INSERT INTO search_backlog SELECT rowid FROM messages "
                     "WHERE text = 'served1 words'")
    assert _count(tmp_path, "served1") == 0
    server = ServerProcess(tmp_path / "data", backend=Backend("sqlite")).start()
    try:
        await within_a_second(lambda: _count(tmp_path, "served1") == 1)
        with sqlite3.connect(tmp_path / "data" / "parley.db") as conn:
            assert conn.execute("SELECT count(*) FROM search_backlog").fetchone() == (0,)
    finally:
        assert server.stop() == 0


def _count(tmp_path: Path, word: str) -> int:
    with sqlite3.connect(tmp_path / "data" / "parley.db") as conn:
        found = conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?",
                             (word,)).fetchone()
    return int(found[0])
