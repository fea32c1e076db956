"""``parley migrate [--check]``: apply the pending migrations, or say whether any are.

Exit status: 0 when the database is (now) at the newest revision, or with ``--check``
when nothing is pending; 1 with ``--check`` when something is pending, when the
database is newer than this release, or when it cannot be reached.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import migrations
from .config import Settings
from .store import SqlStore


class Unreachable(Exception):
    """The database could not be opened."""


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def reason(exc: BaseException) -> str:
    """One line on why the database could not be reached."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreachable(url: str, exc: BaseException) -> Unreachable:
    """The error saying that the database at `url` could not be reached, and why."""
    return Unreachable(f"cannot reach the database at {safe_url(url)}: {reason(exc)}")


async def connect(engine: AsyncEngine, url: str) -> AsyncConnection:
    """A connection of `engine`, or `Unreachable` naming `url` and the reason."""
    try:
        return await engine.connect()
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise unreachable(url, exc) from exc


async def run(settings: Settings, *, check: bool) -> int:
    url = settings.db_url
    try:
        if check and not settings.database_url and not settings.database_file.exists():
            todo = migrations.every()  # (checking creates nothing, not even the file)
        elif check:
            engine = create_async_engine(url)
            try:
                todo = await migrations.pending(engine)
            finally:
                await engine.dispose()
        else:
            if not settings.database_url:
                settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            store = await SqlStore.open(url, sqlite_synchronous=settings.sqlite_synchronous,
                                        sqlite_busy_ms=settings.sqlite_busy_ms)
            await store.close()
            todo = []
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise unreachable(url, exc) from exc
    newest = migrations.head()
    if check:
        if todo:
            print(f"parley: {len(todo)} migration(s) pending, up to {newest}: "
                  + ", ".join(todo), flush=True)
            return 1
        print(f"parley: no migrations pending; the database is at {newest}", flush=True)
        return 0
    print(f"parley: the database is at {newest}", flush=True)
    return 0


def fail(message: str) -> int:
    print(f"parley: {message}", file=sys.stderr, flush=True)
    return 1
