"""``parley --version``, ``parley migrate [--check]``, and a database newer than this
release: refused by ``parley serve`` and ``parley migrate`` alike, and left unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import REDIS_URL, Backend, Postgres
from parley import migrations
from parley.config import normalize_database_url

PARLEY = (sys.executable, "-m", "parley")
FUTURE = "0999_from_the_future"
EVERY = migrations.every()


def parley(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PARLEY, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def said(stderr: str) -> list[str]:
    """What the command wrote on stderr besides its log lines (which start with the date)."""
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if not line[:2].isdigit()]


def database(backend: Backend, data_dir: Path) -> tuple[tuple[str, ...], str]:
    """The flags of a new database on this backend, and its URL."""
    args = backend.args()
    if args:
        return args, normalize_database_url(args[1])
    return ("--data-dir", str(data_dir)), f"sqlite+aiosqlite:///{data_dir / 'parley.db'}"


async def everything(url: str) -> dict[str, Any]:
    """Every table with its columns and rows, alembic's too."""
    def read(sync: sa.Connection) -> dict[str, Any]:
        seen = sa.inspect(sync)
        out: dict[str, Any] = {}
        for table in seen.get_table_names():
            columns = [c["name"] for c in seen.get_columns(table)]
            listed = ", ".join(columns)
            found = sync.execute(sa.text(f"SELECT {listed} FROM {table} ORDER BY {listed}"))
            out[table] = (columns, [tuple(row) for row in found])
        return out
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def test_version() -> None:
    done = parley("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0, f"parley {metadata.version('parley')}\n", "")


async def test_migrate_and_check(backend: Backend, tmp_path: Path) -> None:
    args, url = database(backend, tmp_path / "data")
    head = migrations.head()
    check = parley("migrate", "--check", *args)
    assert (check.returncode, check.stdout) == (
        1, f"parley: {len(EVERY)} migration(s) pending, up to {head}: {', '.join(EVERY)}\n")
    assert said(check.stderr) == []
    if backend.postgres is None:  # --check created nothing
        assert not (tmp_path / "data").exists()
    else:
        assert await everything(url) == {}

    done = parley("migrate", *args)
    assert (done.returncode, done.stdout) == (0, f"parley: the database is at {head}\n")
    assert said(done.stderr) == []
    stored = await everything(url)
    assert stored["alembic_version"] == (["version_num"], [(head,)])
    assert stored["chats"][1][0][1] == "general"

    # the settings come from PARLEY_* variables as well as from flags
    flag, value = args
    again = parley("migrate", "--check", env={"PARLEY_" + flag[2:].upper().replace("-", "_"):
                                               value})
    assert (again.returncode, again.stdout) == (
        0, f"parley: no migrations pending; the database is at {head}\n")
    assert await everything(url) == stored


async def test_a_newer_database_is_refused_unchanged(
    backend: Backend, services: Postgres, tmp_path: Path
) -> None:
    args, url = database(backend, tmp_path / "data")
    assert parley("migrate", *args).returncode == 0
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"),
                               {"v": FUTURE})
    finally:
        await engine.dispose()
    before = await everything(url)
    refusal = (f"parley: the database is at revision {FUTURE}, which this release of "
               f"Parley does not know (its newest is {migrations.head()}): it was upgraded "
               "by a newer release; run that one")
    data = str(tmp_path / "data")
    for command in (("serve", "--port", "0", "--data-dir", data),
                    ("serve", "--port", "0", "--data-dir", data, "--workers", "2",
                     "--redis-url", REDIS_URL),
                    ("migrate",), ("migrate", "--check")):
        done = parley(*command, *args, env={"PARLEY_ARGON2_PROFILE": "test"})
        assert (done.returncode, done.stdout) == (1, ""), done
        assert said(done.stderr) == [refusal], done.stderr
        assert await everything(url) == before


def test_an_unreachable_database() -> None:
    done = parley("migrate", "--database-url", "postgresql://parley:secret@127.0.0.1:1/parley")
    assert (done.returncode, done.stdout) == (1, "")
    assert said(done.stderr) == [
        "parley: cannot reach the database at postgresql+asyncpg://parley:***@127.0.0.1:1/"
        "parley: ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)"]


def test_an_unreachable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = parley("migrate", "--data-dir", str(tmp_path / "file" / "data"))
    assert (done.returncode, done.stdout) == (1, "")
    assert said(done.stderr) == [
        f"parley: cannot reach the database at sqlite+aiosqlite:///{tmp_path}/file/data/"
        f"parley.db: NotADirectoryError: [Errno 20] Not a directory: '{tmp_path}/file/data'"]
