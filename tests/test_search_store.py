"""SqlStore.search on SQLite and PostgreSQL: words, prefixes, case in any script, the
index following direct UPDATEs and DELETEs, access, order, limit and paging, query
syntax in the words, and messages stored before the migration.

PostgreSQL runs twice: on a database of the server's default locale and on one whose
``LC_CTYPE`` is ``C`` (under which PostgreSQL's own ``lower`` leaves Cyrillic as it is).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import PG_URL, Postgres, _run, unavailable
from parley import migrations
from parley.model import Chat, Draft, User
from parley.search import words
from parley.store import SqlStore

T0 = 1_795_534_662_000


async def _admin(postgres: Postgres, statement: str) -> None:
    engine = create_async_engine(postgres.url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


def database_url(database: str, tmp_path: Path, postgres: Postgres) -> str:
    """A new, empty database: a SQLite file, or a PostgreSQL database (``postgresql-C``:
    one whose ``LC_CTYPE`` and ``LC_COLLATE`` are ``C``)."""
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'search.db'}"
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    if database == "postgresql":
        return postgres.new_database()
    name = f"parley_c{os.getpid()}_{len(postgres.made)}"
    _run(_admin(postgres, f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                          "LC_COLLATE 'C' LC_CTYPE 'C'"))
    postgres.made.append(name)
    return postgres.url.rsplit("/", 1)[0] + "/" + name


DATABASES = ["sqlite", "postgresql", "postgresql-C"]


@pytest.fixture(params=DATABASES)
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                postgres: Postgres) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(database_url(request.param, tmp_path, postgres))
    yield opened
    await opened.close()


async def person(store: SqlStore, login: str) -> User:
    user = await store.create_user(login, login, "hash")
    assert user is not None
    return user


async def room(store: SqlStore, name: str, owner: User, password: str | None = None) -> Chat:
    chat = await store.create_chat(name, owner.id, password)
    assert chat is not None
    return chat


async def say(store: SqlStore, chat: Chat, user: User, *texts: str | None,
              at: int = T0) -> list[int]:
    stored = await store.insert_messages([
        Draft(chat_id=chat.id, chat=chat.name, user_id=user.id, login=user.login, text=text,
              image=None if text is not None else "0123456789abcdef0123456789abcdef.png",
              image_size=0 if text is not None else 10, image_data=None, nonce=None,
              created_ms=at + i)
        for i, text in enumerate(texts)])
    return [s.message.id for s in stored if s.message is not None]


async def texts(store: SqlStore, user: User, query: str, **kwargs: Any) -> list[str | None]:
    found = await store.search(user.id, words(query), limit=kwargs.pop("limit", 50), **kwargs)
    return [message.text for _, message in found]


async def execute(store: SqlStore, sql: str, **params: Any) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(sa.text(sql), params)


CORPUS = ["Привет, мир", "Deployed to prod at 3.14", "ЁЛКА и Ёжик", "mail bob@example.com",
          "foo_bar/baz-qux", "Straße STRASSE", "Café crème", "the OR and NOT words"]


async def test_words_prefixes_case_and_scripts(store: SqlStore) -> None:
    alice = await person(store, "alice")
    general = await store.find_chat("general")
    assert general is not None
    await say(store, general, alice, *CORPUS)
    cases = {
        "привет": ["Привет, мир"], "ПРИВЕТ": ["Привет, мир"], "Прив": ["Привет, мир"],
        "мир привет": ["Привет, мир"], "ир": [], "приветы": [],
        "deploy": ["Deployed to prod at 3.14"], "DEPLOYED prod": ["Deployed to prod at 3.14"],
        "deploy мир": [], "3": ["Deployed to prod at 3.14"], "14": ["Deployed to prod at 3.14"],
        "ёлка": ["ЁЛКА и Ёжик"], "ЁЖ": ["ЁЛКА и Ёжик"],
        "example": ["mail bob@example.com"], "com bob": ["mail bob@example.com"],
        "bar": ["foo_bar/baz-qux"], "qux foo": ["foo_bar/baz-qux"],
        "foo_bar": ["foo_bar/baz-qux"], "baz-qux": ["foo_bar/baz-qux"],
        "straße": ["Straße STRASSE"], "strasse": ["Straße STRASSE"],
        "crème": ["Café crème"], "café": ["Café crème"],
        "or": ["the OR and NOT words"], "not": ["the OR and NOT words"],
        "b": ["foo_bar/baz-qux", "mail bob@example.com"], "ABC": [],
    }
    for query, expected in cases.items():
        assert await texts(store, alice, query) == expected, query


async def test_index_follows_updates_and_deletes(store: SqlStore) -> None:
    """Edits UPDATE the text, removals set it to NULL: the index follows in the writing
    transaction; a message without text (an image) is never found."""
    alice = await person(store, "alice")
    chat = await room(store, "edits", alice)
    await say(store, chat, alice, "first draft", "second draft", None, "third draft")
    assert await texts(store, alice, "draft") == ["third draft", "second draft", "first draft"]
    async with store.engine.begin() as conn:  # seen inside the writing transaction itself
        await conn.execute(sa.text("UPDATE messages SET text = 'final version' "
                                   "WHERE chat_id = :c AND id = 1"), {"c": chat.id})
        if store.dialect == "sqlite":
            found = await conn.execute(sa.text(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH '\"final\"*'"))
        else:
            found = await conn.execute(sa.text(
                "SELECT id FROM messages WHERE search @@ to_tsquery('simple', 'final:*')"))
        assert len(found.all()) == 1
    assert await texts(store, alice, "draft") == ["third draft", "second draft"]
    assert await texts(store, alice, "final vers") == ["final version"]
    await execute(store, "UPDATE messages SET text = NULL, image = NULL "
                         "WHERE chat_id = :c AND id = 2", c=chat.id)
    assert await texts(store, alice, "draft") == ["third draft"]
    assert await texts(store, alice, "second") == []
    await execute(store, "UPDATE messages SET text = 'second draft again' "
                         "WHERE chat_id = :c AND id = 2", c=chat.id)
    assert await texts(store, alice, "again") == ["second draft again"]
    await execute(store, "UPDATE messages SET login = 'someone' WHERE chat_id = :c", c=chat.id)
    assert await texts(store, alice, "draft") == ["third draft", "second draft again"]
    assert await store.delete_chat(chat.id)
    assert await texts(store, alice, "draft") == []
    assert await texts(store, alice, "final") == []


async def test_only_chats_the_user_may_read(store: SqlStore) -> None:
    alice, bob, carl = [await person(store, login) for login in ("alice", "bob", "carl")]
    open_ = await room(store, "open", alice)
    closed = await room(store, "closed", alice, password="pw-hash")
    direct = await store.create_direct("@alice,bob", f"{alice.id},{bob.id}", [alice.id, bob.id])
    assert direct is not None
    await say(store, open_, alice, "secret in open", at=T0)
    await say(store, closed, alice, "secret in closed", at=T0 + 10)
    await say(store, direct, bob, "secret in direct", at=T0 + 20)
    everything = ["secret in direct", "secret in closed", "secret in open"]
    assert await texts(store, alice, "secret") == everything
    assert await texts(store, bob, "secret") == ["secret in direct", "secret in open"]
    assert await texts(store, carl, "secret") == ["secret in open"]
    for name in ("closed", "@alice,bob", "nowhere"):
        for before in (None, 0, 1, 2, 10**9):
            assert await texts(store, carl, "secret", chat=name, before=before) == []
    assert await texts(store, carl, "secret", chat="open") == ["secret in open"]
    assert await texts(store, bob, "secret", chat="@alice,bob", before=2) == [
        "secret in direct"]
    await store.add_member(closed.id, carl.id)  # carl gave the password
    assert await texts(store, carl, "secret") == ["secret in closed", "secret in open"]
    assert await texts(store, carl, "secret", chat="closed") == ["secret in closed"]
    await store.remove_member(closed.id, carl.id)  # and left
    assert await texts(store, carl, "secret") == ["secret in open"]
    await store.remove_member(closed.id, alice.id)  # the owner left too
    assert await texts(store, alice, "secret") == ["secret in direct", "secret in open"]


async def test_newest_first_limit_and_paging(store: SqlStore) -> None:
    alice = await person(store, "alice")
    one, two = await room(store, "one", alice), await room(store, "two", alice)
    # 70 messages, alternating chats, each newer than the one before
    for n in range(70):
        await say(store, one if n % 2 == 0 else two, alice, f"ping {n}", at=T0 + 1000 * n)
    found = await store.search(alice.id, ["ping"], limit=50)
    assert [(chat, m.text) for chat, m in found] == [
        ("one" if n % 2 == 0 else "two", f"ping {n}") for n in range(69, 19, -1)]
    first = await store.search(alice.id, ["ping"], chat="one", limit=20)
    assert [m.id for _, m in first] == list(range(35, 15, -1))
    assert [m.text for _, m in first] == [f"ping {2 * (i - 1)}" for i in range(35, 15, -1)]
    rest = await store.search(alice.id, ["ping"], chat="one", before=16, limit=20)
    assert [m.id for _, m in rest] == list(range(15, 0, -1))
    assert await store.search(alice.id, ["ping"], chat="one", before=1, limit=20) == []
    assert (await store.search(alice.id, ["ping"], chat="two", limit=1))[0][1].text == "ping 69"
    # the messages are read as history reads them
    page = await store.history(two.id, before=36, limit=1)
    assert [m for _, m in await store.search(alice.id, ["ping", "69"], limit=5)] == page


NASTY = ['"', '""', "'", "''", "*", ":*", ":", "&", "|", "!", "(", ")", "<->", "\\", "^",
         "-", "+", "NEAR", "NEAR(", "AND", "OR", "NOT", "{text}", "text:", "a:b", "a&b",
         "a|b", "!a", "a*", '"a"*', "'a':*", "a'b", 'a"b', "a\\", "\\'", "a:*B", "%", "_"]


async def test_query_syntax_in_words_is_harmless(store: SqlStore) -> None:
    """Words reach the store from :func:`parley.search.words` (letters and digits only),
    but the store quotes whatever it gets: no word is ever query syntax or an error."""
    alice = await person(store, "alice")
    general = await store.find_chat("general")
    assert general is not None
    await say(store, general, alice, "a b text near and or not", "AB", "a'b")
    for word in NASTY:
        found = await store.search(alice.id, [word], limit=50)
        assert all(m.text is not None for _, m in found), word
        assert await store.search(alice.id, [word, "zzz"], limit=50) == [], word
    for query in NASTY:
        assert isinstance(await texts(store, alice, query + " near"), list)
    assert await texts(store, alice, 'NEAR("a" "b") OR') == ["a b text near and or not"]
    assert await texts(store, alice, "a*b") == ["a'b", "a b text near and or not"]
    assert await texts(store, alice, "text:a") == ["a b text near and or not"]


BEFORE_SEARCH = "0005_mentions"


@pytest.mark.parametrize("database", ["sqlite", "postgresql-C"])
async def test_messages_stored_before_the_migration_are_found(
        database: str, tmp_path: Path, postgres: Postgres) -> None:
    url = database_url(database, tmp_path, postgres)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.upgrade(migrations._config(sync), BEFORE_SEARCH))
            await conn.execute(sa.text(
                "INSERT INTO users (id, login, login_key, password_hash, created_ms) "
                "VALUES (1, 'alice', 'alice', 'h', :t)"), {"t": T0})
            for i, text in enumerate(["Привет, мир", None, "Deployed"], 1):
                await conn.execute(sa.text(
                    "INSERT INTO messages (chat_id, id, user_id, login, text, created_ms) "
                    "VALUES (1, :id, 1, 'alice', :text, :t)"), {"id": i, "text": text, "t": T0 + i})
            await conn.execute(sa.text("UPDATE chats SET last_id = 3 WHERE id = 1"))
    finally:
        await engine.dispose()
    store = await SqlStore.open(url)
    try:
        assert await texts(store, User(1, "alice"), "привет") == ["Привет, мир"]
        assert await texts(store, User(1, "alice"), "deploy") == ["Deployed"]
        await say(store, Chat(1, "general", None, None), User(1, "alice"), "deploy again",
                  at=T0 + 10)
        assert await texts(store, User(1, "alice"), "deploy") == ["deploy again", "Deployed"]
    finally:
        await store.close()
