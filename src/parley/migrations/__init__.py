"""Alembic migrations: applied at start by :func:`parley.migrations.upgrade`, or by
``parley migrate``; :func:`pending` tells which are still to apply.

A database at a revision these scripts do not know was upgraded by a newer release:
nothing is done to it, and :class:`NewerSchema` says so.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).parent


class NewerSchema(Exception):
    """The database's revision is not one of ours: a newer release wrote it."""

    def __init__(self, found: str, head: str) -> None:
        super().__init__(
            f"the database is at revision {found}, which this release of Parley does not "
            f"know (its newest is {head}): it was upgraded by a newer release; run that one")
        self.found = found
        self.head = head


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(config)


def head() -> str:
    """The newest revision these scripts know."""
    newest = scripts().get_current_head()
    assert newest is not None
    return newest


def every() -> list[str]:
    """Every revision, oldest first."""
    return [r.revision for r in reversed(list(scripts().walk_revisions()))]


def _pending(connection: Connection) -> list[str]:
    """The revisions still to apply, oldest first; :class:`NewerSchema` for an unknown one."""
    found = MigrationContext.configure(connection).get_current_revision()
    script = scripts()
    known = [r.revision for r in script.walk_revisions()]  # newest first
    if found is not None and found not in known:
        raise NewerSchema(found, head())
    todo = known if found is None else known[:known.index(found)]
    return list(reversed(todo))


def _upgrade(connection: Connection) -> None:
    if _pending(connection):
        command.upgrade(_config(connection), "head")


async def pending(engine: AsyncEngine) -> list[str]:
    """The revisions the database lacks, oldest first (all of them for an empty one)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_pending)


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema (creating it on first start)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
