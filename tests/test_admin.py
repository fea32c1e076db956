"""``parley admin``: every command's exact output, in text and ``--json``, on SQLite and
PostgreSQL, and its errors: an unknown login or chat, a database that cannot be reached,
lacks migrations or does not exist (one line on stderr, exit status 1, nothing changed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from admin_kit import Done, cli, db_args, execute, inproc, run_cli, when
from conftest import (
    PASSWORD,
    Backend,
    Connect,
    MakeServer,
    ServerProcess,
    unique,
    user,
)
from parley import migrations
from parley.client import Client
from parley.config import normalize_database_url


async def flags(server: ServerProcess, login: str) -> tuple[bool, bool]:
    [(is_admin, disabled)] = await server.rows(
        "SELECT admin, disabled FROM users WHERE login = :login", login=login)
    return bool(is_admin), bool(disabled)


async def seen(server: ServerProcess) -> dict[str, int | None]:
    return {login: at for login, at in await server.rows("SELECT login, seen_ms FROM users")}


async def test_users_lists_every_user_with_flags_and_last_seen(
    make_server: MakeServer, connect: Connect
) -> None:
    server = make_server()
    alice = await user(connect, server.ws, "Alice" + unique())
    bob = await user(connect, server.ws, "bob" + unique())
    for client in (alice, bob):
        await client.close()
    # a user who never logged in since last seen was kept (before migration 0009)
    await execute(server, "INSERT INTO users (login, login_key, password_hash, created_ms) "
                      "VALUES ('carol', 'carol', 'x', 0)")
    assert (await run_cli(*db_args(server), "grant", str(alice.user))).code == 0
    assert (await inproc(*db_args(server), "disable", str(bob.user))).code == 0
    assert server.stop() == 0  # (its last sightings are written as it stops)
    at = await seen(server)
    assert at["carol"] is None
    assert at[str(alice.user)]
    assert at[str(bob.user)]
    a, b = str(alice.user), str(bob.user)
    width = max(len(a), len(b), len("LOGIN"))
    expected = "\n".join(
        line.rstrip() for line in (
            f"{'LOGIN'.ljust(width)}  ADMIN  DISABLED  LAST SEEN",
            f"{a.ljust(width)}  yes    no        {when(at[a])}",
            f"{b.ljust(width)}  no     yes       {when(at[b])}",
            f"{'carol'.ljust(width)}  no     no        never")) + "\n"
    done = await run_cli(*db_args(server), "users")
    assert done == Done(0, expected, "")
    assert (await inproc(*db_args(server), "--json", "users")).json() == {"users": [
        {"login": a, "admin": True, "disabled": False, "last_seen": when(at[a])},
        {"login": b, "admin": False, "disabled": True, "last_seen": when(at[b])},
        {"login": "carol", "admin": False, "disabled": False, "last_seen": None},
    ]}


async def test_grant_revoke_disable_enable_say_what_they_did(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    client = await user(connect, server.ws)
    login = str(client.user)
    where = db_args(server)
    cases = [
        ("grant", f"{login} is now a server admin\n", {"login": login, "admin": True},
         (True, False)),
        ("revoke", f"{login} is no longer a server admin\n", {"login": login, "admin": False},
         (False, False)),
        ("disable", f"{login} is disabled: every token is revoked, and their sockets close "
         "within 2 seconds\n", {"login": login, "disabled": True}, (False, True)),
        ("enable", f"{login} may log in again\n", {"login": login, "disabled": False},
         (False, False)),
    ]
    for name, text, document, stored in cases:
        assert await run_cli(*where, name, login) == Done(0, text, "")
        assert await flags(server, login) == stored
        # the same with --json, and with the login in other case (logins match folded)
        assert (await inproc(*where, "--json", name, login.upper())).json() == document
        assert await flags(server, login) == stored


async def test_chats_lists_owner_members_and_messages(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    owner = await user(connect, server.ws)
    name = unique("room")
    assert (await owner.create(name))["Status"] == "success"
    other = await user(connect, server.ws)
    assert (await other.choose(name))["Command"] == "choice"
    for text in ("one", "two", "three"):
        await other.say(text)
    await other.until(lambda f: f.get("Message", {}).get("text") == "three")
    o = str(owner.user)
    width = max(len(name), len("general"))
    owner_width = max(len(o), len("OWNER"))
    expected = "\n".join(line.rstrip() for line in (
        f"{'NAME'.ljust(width)}  {'OWNER'.ljust(owner_width)}  MEMBERS  MESSAGES",
        f"{'general'.ljust(width)}  {'-'.ljust(owner_width)}  0        0",
        f"{name.ljust(width)}  {o.ljust(owner_width)}  2        3")) + "\n"
    assert (await run_cli(*db_args(server), "chats")).out == expected
    assert (await inproc(*db_args(server), "--json", "chats")).json() == {"chats": [
        {"name": "general", "owner": None, "members": 0, "messages": 0, "direct": False},
        {"name": name, "owner": o, "members": 2, "messages": 3, "direct": False},
    ]}


async def test_unknown_logins_and_chats_are_one_line_and_exit_1(
    fresh_server: ServerProcess,
) -> None:
    where = db_args(fresh_server)
    before = await fresh_server.rows("SELECT * FROM users ORDER BY id")
    for name in ("grant", "revoke", "disable", "enable", "reset-password"):
        assert await inproc(*where, name, "nobody") == Done(1, "", "parley: no user 'nobody'\n")
    assert cli(*where, "disable", "nobody") == Done(1, "", "parley: no user 'nobody'\n")
    for args in (("delete-chat", "nowhere"), ("purge-chat", "nowhere", "--before", "2026-01-01")):
        done = await inproc(*where, *args)
        assert (done.code, done.out, done.err) == (1, "", "parley: no chat 'nowhere'\n")
    assert await inproc(*where, "--json", "grant", "nobody") == Done(
        1, "", "parley: no user 'nobody'\n")
    done = await inproc(*where, "delete-chat", "general")
    assert (done.code, done.out, done.err) == (
        1, "", "parley: the chat 'general' is never deleted\n")
    assert await fresh_server.rows("SELECT * FROM users ORDER BY id") == before
    assert await fresh_server.rows("SELECT name FROM chats") == [("general",)]


async def test_the_database_may_be_named_by_parley_variables(
    fresh_server: ServerProcess,
) -> None:
    if fresh_server.backend.postgres is None:
        env = {"PARLEY_DATA_DIR": str(fresh_server.data_dir)}
    else:
        env = {"PARLEY_DATABASE_URL": fresh_server.db_url}
    done = await asyncio.to_thread(cli, "--json", "chats", env=env)
    assert done.json() == {"chats": [
        {"name": "general", "owner": None, "members": 0, "messages": 0, "direct": False}]}


def test_an_unreachable_database_is_one_line_and_exit_1() -> None:
    done = cli("--database-url", "postgresql://parley:secret@127.0.0.1:1/parley", "users")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        "parley: cannot reach the database at postgresql+asyncpg://parley:***@127.0.0.1:1/"
        "parley: ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)\n")


async def test_a_missing_sqlite_database_is_not_created(tmp_path: Path) -> None:
    done = await inproc("--data-dir", str(tmp_path / "data"), "users")
    assert (done.code, done.out) == (1, "")
    assert done.err == (f"parley: there is no database at {tmp_path / 'data' / 'parley.db'}: "
                        "run `parley migrate` first\n")
    assert not (tmp_path / "data").exists()


async def test_pending_migrations_or_a_newer_schema_are_one_line(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.postgres is None:
        url = f"sqlite:///{tmp_path / 'parley.db'}"
        where = ["--data-dir", str(tmp_path)]
    else:
        url = backend.postgres.new_database()
        where = ["--database-url", url]
    older = "0008_users_prefix"
    engine = create_async_engine(normalize_database_url(url))
    try:
        async with engine.begin() as conn:
            def upgrade(sync: sa.Connection) -> None:
                config = Config()
                config.set_main_option("script_location", str(migrations.HERE))
                config.attributes["connection"] = sync
                command.upgrade(config, older)

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()
    for run in ("users", "chats"):
        done = await inproc(*where, run)
        assert (done.code, done.out, done.err) == (
            1, "", "parley: the database lacks 2 migration(s) (0009_moderation, "
            "0010_search_backlog): run `parley migrate` first\n")
    assert (await inproc(*where, "--json", "users")).code == 1
    engine = create_async_engine(normalize_database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from_a_newer'"))
    finally:
        await engine.dispose()
    done = await inproc(*where, "users")
    assert (done.code, done.out, done.err) == (
        1, "", "parley: the database is at revision from_a_newer, which this release of "
        f"Parley does not know (its newest is {migrations.head()}): it was upgraded by a "
        "newer release; run that one\n")


async def test_reset_password_prints_a_new_password_once(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    client = await user(connect, fresh_server.ws)
    login = str(client.user)
    done = await run_cli(*db_args(fresh_server), "reset-password", login)
    first, second = done.out.splitlines()
    prefix = f"new password for {login} (shown only now): "
    assert first.startswith(prefix)
    assert (done.code, done.err) == (0, "")
    password = first[len(prefix):]
    assert len(password) == 20
    assert password != PASSWORD
    assert second == f"every token of {login} is revoked; their sockets are logged out"
    again = (await inproc(*db_args(fresh_server), "--json", "reset-password", login)).json()
    assert again.keys() == {"login", "password"}
    assert again["login"] == login
    assert again["password"] != password
    assert len(again["password"]) == 20
    fresh = await Client.connect(fresh_server.ws)
    try:
        assert (await fresh.login(login, password))["Status"] == "error"
        assert (await fresh.login(login, again["password"]))["Status"] == "success"
    finally:
        await fresh.close()
