"""Moving a whole server between databases: ``parley backup`` on one (SQLite or
PostgreSQL), ``parley restore`` into the other, with real servers on both sides. Every
row of every table comes out the same, and every image byte; the users log in with
their old passwords and tokens, and search finds the moved messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

import test_migrations
from backup_kit import PASSWORD, Place, answer, dump, fill, image_files, parley
from conftest import PG_URL, Postgres, unavailable
from parley.client import Client
from parley.store import SqlStore
from parley.testing import ServerProcess


def place(kind: str, where: Path, postgres: Postgres) -> Place:
    if kind == "sqlite":
        return Place(where)
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    return Place(where, postgres.new_database())


@pytest.mark.parametrize(("source_kind", "target_kind"),
                         [("sqlite", "postgresql"), ("postgresql", "sqlite")])
async def test_move_keeps_everything(tmp_path: Path, postgres: Postgres, source_kind: str,
                                     target_kind: str) -> None:
    source = place(source_kind, tmp_path / "source", postgres)
    target = place(target_kind, tmp_path / "target", postgres)
    server = ServerProcess(source.data_dir, *source.args()[2:]).start()
    try:
        made = await fill(server.ws)
    finally:
        assert server.stop() == 0
    before = await dump(source.url)
    images_before = await image_files(source)
    # the fill made every kind of row (the removed message's image is gone with it)
    for table in ("users", "tokens", "chats", "members", "messages", "reactions", "mentions",
                  "images"):
        assert before[table], table
    assert len(images_before) == 1
    assert list(images_before.values()) == [made.images["kept"]]

    archive = tmp_path / "parley.tar.gz"
    done = parley("backup", str(archive), *source.args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"parley: backup of revision 0010_search_backlog written to "
                                  f"{archive}: 3 users, 4 chats, ")
    done = parley("restore", str(archive), *target.args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"parley: restored {archive} (revision 0010_search_backlog, ")

    assert await dump(target.url) == before
    assert await image_files(target) == images_before

    served = ServerProcess(target.data_dir, *target.args()[2:]).start()
    try:
        alice = await Client.connect(served.ws)
        bob = await Client.connect(served.ws)
        try:
            assert (await alice.login("alice", PASSWORD))["Status"] == "success"
            assert (await bob.login(token=made.tokens["bob"]))["User"] == "bob"
            found = await answer(alice, {"Type": "chat", "Command": "search",
                                         "Text": "edited"})
            assert [(r["chat"], r["message"]["text"]) for r in found["Results"]] == [
                ("open", "hello @bob, edited")]
            found = await answer(bob, {"Type": "chat", "Command": "search", "Text": "between"})
            assert [r["chat"] for r in found["Results"]] == ["@alice,bob"]
            name = hashlib.md5(made.images["kept"]).hexdigest() + ".png"
            async with aiohttp.ClientSession() as http, \
                    http.get(f"{served.http}/images/open/{name}") as got:
                assert got.status == 200
                assert await got.read() == made.images["kept"]
            # ids to come follow the moved ones
            create = {"Type": "chat", "Command": "create", "Chat": "after the move"}
            assert (await answer(alice, create))["Status"] == "success"
        finally:
            await alice.close()
            await bob.close()
    finally:
        assert served.stop() == 0
    chats = (await dump(target.url))["chats"]
    assert [row[:2] for row in chats][-1] == (max(r[0] for r in before["chats"]) + 1,
                                             "after the move")


@pytest.mark.parametrize(("source_kind", "target_kind"),
                         [("sqlite", "postgresql"), ("postgresql", "sqlite")])
async def test_an_older_revision_moves_forward(tmp_path: Path, postgres: Postgres,
                                               source_kind: str, target_kind: str) -> None:
    """An archive of a database at 0005 (rows of that release) restores, and is migrated
    to the newest revision: the same as migrating the old database in place; search works
    on the moved messages."""
    source = place(source_kind, tmp_path / "source", postgres)
    target = place(target_kind, tmp_path / "target", postgres)
    source.data_dir.mkdir()
    dialect = "sqlite" if source.sqlite else "postgresql"
    await test_migrations.run(source.url, *test_migrations.with_mention(dialect),
                              revision="0005_mentions")
    archive = tmp_path / "old.tar.gz"
    done = parley("backup", str(archive), *source.args())
    assert done.returncode == 0, done.stderr
    assert "backup of revision 0005_mentions" in done.stdout
    done = parley("restore", str(archive), *target.args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("the database is at 0010_search_backlog")

    store = await SqlStore.open(source.url)  # the old database migrated in place
    await store.close()
    moved = await dump(target.url)
    assert moved == await dump(source.url)
    assert moved["alembic_version"] == [("0010_search_backlog",)]
    assert len(moved["messages"]) == len(test_migrations.MESSAGES)
    store = await SqlStore.open(target.url)
    try:
        found = await store.search(3, ["text"], limit=50)
        # carl reads the open chats general (1) and Team (2); secret (4) is closed to him
        assert sorted((m.chat_id, m.id) for _, m in found) == [
            (1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]
    finally:
        await store.close()
