"""Upgrades: a database written by an earlier release, on SQLite and PostgreSQL, is
migrated to the newest revision with every row intact, and today's code works on it.

Each case is the newest revision of a release, the rows that release wrote, and what
must hold after the upgrade. The database is migrated to the case's revision (alembic,
as ``SqlStore.open`` of that release did), filled, then opened by today's
``SqlStore.open``, which migrates it to the head; every row of every table the release
had must come out exactly as it went in. A case with ``served`` then starts a real
``parley serve`` on the upgraded database. A new migration adds its case to ``CASES``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

import first_release
from conftest import PG_URL, Backend, Postgres, ServerProcess, unavailable
from parley import migrations
from parley.model import Draft
from parley.rights import Roles
from parley.store import SqlStore

T0 = 1_795_534_662_000
Statements = list[tuple[str, dict[str, Any]]]


def database_url(database: str, tmp_path: Path, postgres: Postgres) -> str:
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    return postgres.new_database()


async def run(url: str, *statements: tuple[str, dict[str, Any]],
              revision: str | None = None) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if revision is not None:
                await conn.run_sync(
                    lambda sync: command.upgrade(migrations._config(sync), revision))
            for sql, params in statements:
                await conn.execute(sa.text(sql), params)
    finally:
        await engine.dispose()


async def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(sa.text(sql))]
    finally:
        await engine.dispose()


async def tables(url: str) -> dict[str, list[str]]:
    """Every table but alembic's, with its columns."""
    def look(sync: sa.Connection) -> dict[str, list[str]]:
        seen = sa.inspect(sync)
        return {name: [c["name"] for c in seen.get_columns(name)]
                for name in seen.get_table_names() if name != "alembic_version"}
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(look)
    finally:
        await engine.dispose()


async def contents(url: str, shape: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of these tables, these columns only, in a stable order."""
    out = {}
    for table, columns in shape.items():
        listed = ", ".join(columns)
        out[table] = await rows(url, f"SELECT {listed} FROM {table} ORDER BY {listed}")
    return out


# -- the releases' rows ---------------------------------------------------------------

USERS = ["alice", "bob", "carl", "dave"]
#: (id, name, owner, password hash): general is made by the first revision (id 1)
CHATS = [(2, "Team", 1, None), (3, "team", 2, None), (4, "secret", 1, "pw-hash"),
         (5, "quiet", 4, None)]
#: the members the release kept: owners, and users admitted to a closed chat
MEMBERS = [(2, 1), (3, 2), (4, 1), (4, 2), (5, 4)]
#: (chat, id, user): bob and carl wrote in general, carl and dave in Team, alice and
#: bob in secret
MESSAGES = [(1, 1, 2), (1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 2, 4), (4, 1, 1), (4, 2, 2)]


def release_rows(dialect: str) -> Statements:
    out: Statements = []
    for i, login in enumerate(USERS, 1):
        out.append(("INSERT INTO users (id, login, login_key, password_hash, created_ms) "
                    "VALUES (:id, :login, :login, 'hash', :t)", {"id": i, "login": login, "t": T0}))
    for chat_id, name, owner, password_hash in CHATS:
        out.append(("INSERT INTO chats (id, name, owner_id, password_hash, last_id, created_ms) "
                    "VALUES (:id, :name, :owner, :pw, 0, :t)",
                    {"id": chat_id, "name": name, "owner": owner, "pw": password_hash, "t": T0}))
    for chat_id, user_id in MEMBERS:
        out.append(("INSERT INTO members (chat_id, user_id) VALUES (:c, :u)",
                    {"c": chat_id, "u": user_id}))
    for chat_id, id_, user_id in MESSAGES:
        out.append(("INSERT INTO messages (chat_id, id, user_id, login, text, image, nonce, "
                    "created_ms) VALUES (:c, :i, :u, :login, :text, NULL, NULL, :t)",
                    {"c": chat_id, "i": id_, "u": user_id, "login": USERS[user_id - 1],
                     "text": f"text {chat_id}/{id_}", "t": T0 + id_}))
        out.append(("UPDATE chats SET last_id = :i WHERE id = :c", {"c": chat_id, "i": id_}))
    if dialect == "postgresql":  # (the rows were inserted with their ids)
        out += [("SELECT setval('chats_id_seq', 5)", {}), ("SELECT setval('users_id_seq', 4)", {})]
    return out


def with_mention(dialect: str) -> Statements:
    mention = ("INSERT INTO mentions (user_id, chat_id, message_id) VALUES (3, 1, 1)", {})
    return [*release_rows(dialect), mention]


# -- what holds after the upgrade -----------------------------------------------------

async def first_release_upgraded(url: str, store: SqlStore) -> None:
    """The first release's chats are members' chats now, and nothing was read yet."""
    assert await rows(url, "SELECT chat_id, user_id FROM members ORDER BY chat_id, user_id") \
        == [(1, 1), (1, 2), (2, 1), (3, 2)]
    assert await rows(url, "SELECT name, name_key FROM chats ORDER BY id") == [
        ("general", "general"), ("Team", "team"), ("secret", "secret")]
    page = await store.history(1, limit=30)
    assert [(m.id, m.text, m.image) for m in page] == [
        (1, "hello", None), (2, "a picture", first_release.IMAGE),
        (3, None, first_release.IMAGE)]


async def membership_upgraded(url: str, store: SqlStore) -> None:
    """Stored membership (0003): authors and owners become members, the name keys."""
    members = await rows(url, "SELECT chat_id, user_id, read_id FROM members "
                              "ORDER BY chat_id, user_id")
    last = {1: 3, 2: 2, 3: 0, 4: 2, 5: 0}
    # general: its authors; Team: its owner and authors; team, quiet: the owner;
    # secret (closed): as it was, its authors made no one a member
    expected = {(1, 2), (1, 3), (2, 1), (2, 3), (2, 4), (3, 2), (4, 1), (4, 2), (5, 4)}
    assert {(c, u) for c, u, _ in members} == expected
    assert set(MEMBERS) <= expected
    # what was there before the upgrade counts as read
    assert all(read == last[c] for c, _, read in members), members
    for chat_id, user_id in expected:
        assert await store.is_member(chat_id, user_id)
    # name keys: the first of two look-alikes has it, the later one keeps its name
    assert await rows(url, "SELECT name, name_key FROM chats ORDER BY id") == [
        ("general", "general"), ("Team", "team"), ("team", None), ("secret", "secret"),
        ("quiet", "quiet")]
    team = await store.find_chat("team")
    assert team is not None
    assert team.id == 3  # choice by name stays exact
    assert await store.create_chat("TEAM", 1, None) is None
    assert await store.history(3, limit=30) == []
    # the key passes to the look-alike when the chat holding it goes
    assert await store.delete_chat(2) is True
    assert await rows(url, "SELECT name_key FROM chats WHERE id = 3") == [("team",)]
    assert await store.create_chat("TEAM", 1, None) is None
    fresh = await store.create_chat("new one", 3, None)
    assert fresh is not None
    assert await store.is_member(fresh.id, 3)


async def changes_upgraded(url: str, store: SqlStore) -> None:
    """Changes (0006) on messages, members and a mention of 0005: the messages were never
    edited, removed or reacted to; changes then work on them."""
    assert await rows(url, "SELECT DISTINCT edited_ms, removed, reply_to, change "
                           "FROM messages") == [(None, False, None, None)]
    assert await rows(url, "SELECT id, last_change FROM chats ORDER BY id") == [
        (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
    page = await store.history(1, limit=30)
    assert [(m.id, m.text, m.removed, m.reactions, m.reply) for m in page] == [
        (1, "text 1/1", False, (), None), (2, "text 1/2", False, (), None),
        (3, "text 1/3", False, (), None)]
    edited = await store.edit(1, 2, 1, "new", T0 + 10)
    assert edited is not None
    assert (edited.number, edited.message.text, edited.message.edited_ms) == (1, "new", T0 + 10)
    reacted = await store.react(1, 3, 1, "👍")
    assert reacted is not None
    assert (reacted.number, reacted.message.reactions) == (2, (("👍", ("carl",)),))
    removed = await store.remove(1, 2, 1)
    assert removed is not None
    assert (removed.number, removed.message.removed) == (3, True)
    assert await rows(url, "SELECT count(*) FROM mentions") == [(0,)]
    assert [(m.id, m.change) for m in await store.changed(1, upto=3, after=0, limit=10)] == [
        (1, 3)]
    assert await store.positions(1) == (3, 3)


async def moderation_upgraded(url: str, store: SqlStore) -> None:
    """Moderation (0009) on the rows of 0008: no admin, no one disabled or seen yet, no
    moderators, sanctions or control rows; moderation then works on them."""
    assert await rows(url, "SELECT id, admin, disabled, seen_ms FROM users ORDER BY id") == [
        (1, False, False, None), (2, False, False, None), (3, False, False, None),
        (4, False, False, None)]
    for table in ("moderators", "sanctions", "control"):
        assert await rows(url, f"SELECT count(*) FROM {table}") == [(0,)], table
    # Team (2) is alice's: carl becomes its moderator, dave is banned, bob muted
    assert await store.roles(2, 1, 3) == Roles(3, False)
    assert await store.set_moderator(2, 3, True)
    assert await store.roles(2, 1, 3) == Roles(3, False, moderator=True)
    assert await store.staff(2) == ("alice", ["carl"])
    await store.add_member(2, 4)
    assert await store.ban(2, 4, None)
    assert not await store.is_member(2, 4)
    assert await store.banned(2, 4, T0)
    assert await store.mute(2, 2, T0 + 60_000)
    assert sorted(await store.sanctions(T0)) == [("ban", 2, 4, None), ("mute", 2, 2, T0 + 60_000)]
    assert await store.sanctions(T0 + 60_000) == [("ban", 2, 4, None)]


async def backlog_upgraded(url: str, store: SqlStore) -> None:
    """The search backlog (0010) on the rows of 0009: the old messages were indexed by
    0007's trigger, so nothing waits and search finds them; a new message waits in the
    backlog (SQLite) until a search or the indexer takes it, with its current text."""
    sqlite = url.startswith("sqlite")
    if sqlite:
        assert await rows(url, "SELECT count(*) FROM search_backlog") == [(0,)]
    # bob (2) reads the open chats and secret, not quiet (no message there)
    found = await store.search(2, ["text"], limit=50)
    assert sorted((chat, m.id, m.text) for chat, m in found) == [
        ("Team", 1, "text 2/1"), ("Team", 2, "text 2/2"), ("general", 1, "text 1/1"),
        ("general", 2, "text 1/2"), ("general", 3, "text 1/3"), ("secret", 1, "text 4/1"),
        ("secret", 2, "text 4/2")]
    await store.stop_indexer()
    stored = await store.insert_messages([Draft(
        chat_id=1, chat="general", user_id=2, login="bob", text="first draft", image=None,
        image_size=0, image_data=None, nonce=None, created_ms=T0 + 10)])
    assert stored[0].message is not None
    assert stored[0].message.id == 4
    if sqlite:
        assert await rows(url, "SELECT count(*) FROM search_backlog") == [(1,)]
    assert await store.edit(1, 2, 4, "final words", T0 + 11) is not None
    assert [m.text for _, m in await store.search(2, ["first"], limit=50)] == []
    assert [m.text for _, m in await store.search(2, ["final"], limit=50)] == ["final words"]
    if sqlite:
        assert await rows(url, "SELECT count(*) FROM search_backlog") == [(0,)]


@dataclass(frozen=True)
class Case:
    revision: str  #: the newest revision of the release
    seed: Callable[[str, Path], Statements]  #: (dialect, data dir): the release's rows
    check: Callable[[str, SqlStore], Awaitable[None]]  #: after the upgrade, on the store
    served: Callable[[ServerProcess], Awaitable[None]] | None = None  #: on a real server
    #: tables a migration adds rows to (the check asserts exactly which): their old rows
    #: must all be there, as they were
    grows: tuple[str, ...] = ()


CASES = [
    Case(first_release.REVISION, first_release.seed, first_release_upgraded,
         first_release.served, grows=("members",)),
    Case("0002_tokens_by_user", lambda dialect, _: release_rows(dialect), membership_upgraded,
         grows=("members",)),
    Case("0005_mentions", lambda dialect, _: with_mention(dialect), changes_upgraded),
    Case("0008_users_prefix", lambda dialect, _: release_rows(dialect), moderation_upgraded),
    Case("0009_moderation", lambda dialect, _: release_rows(dialect), backlog_upgraded),
]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("case", CASES, ids=[case.revision for case in CASES])
async def test_upgrade_keeps_every_row(
    case: Case, database: str, tmp_path: Path, postgres: Postgres
) -> None:
    url = database_url(database, tmp_path, postgres)
    await run(url, *case.seed(database, tmp_path), revision=case.revision)
    shape = await tables(url)
    before = await contents(url, shape)
    assert any(before.values())

    store = await SqlStore.open(url)
    try:
        assert await rows(url, "SELECT version_num FROM alembic_version") == [
            (migrations.head(),)]
        after = await contents(url, shape)
        for table in case.grows:
            assert set(before.pop(table)) <= set(after.pop(table)), table
        assert after == before
        await case.check(url, store)
    finally:
        await store.close()
    if case.served is None:
        return
    args = () if database == "sqlite" else ("--database-url", url)
    server = ServerProcess(tmp_path, *args, backend=Backend("sqlite")).start()
    try:
        await case.served(server)
    finally:
        assert server.stop() == 0
