"""``parley restore ARCHIVE [--force]``: load an archive of ``parley backup`` into the
database the settings name, SQLite or PostgreSQL, whichever the archive came from.

Nothing is written before the whole archive is checked: every member's SHA-256, the
manifest's own, every table's row count (:func:`parley.archive.verify`), and that this
release knows the archive's format, Parley version and schema revision. The archive is
then read a second time to load it (each member's checksum checked again).

The target must be empty: no users and no messages (a database a server has merely
migrated, which holds only the ``general`` chat, is empty; so is a missing SQLite file
or a PostgreSQL database without tables). ``--force`` replaces whatever it holds.

The load is all or nothing. PostgreSQL: one transaction drops Parley's tables, migrates
the empty database to the archive's revision, loads the rows in dependency order,
migrates to the newest revision (an older archive moves forward like any database
would) and sets the id sequences; DDL is transactional there, so a failure leaves the
database as it was. SQLite: the same steps build a new file beside the database
(``parley.db.restoring``), which replaces it only once complete. Image files are
written to ``images.restoring`` in the data dir and take the place of ``images`` after
the database is committed. Images go where the target's settings put them
(``--image-store``: files on SQLite, rows on PostgreSQL by default), wherever the source
kept them. Search structures are rebuilt by the inserts themselves (SQLite's FTS5
triggers; PostgreSQL's generated column).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from importlib import metadata as package
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import msgspec
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from . import migrations
from .archive import (
    FORMAT_VERSION,
    IMAGE_MEMBER,
    MANIFEST,
    MANIFEST_SUM,
    TABLE_MEMBER,
    ArchiveError,
    Manifest,
    members,
    sha256,
    verify,
)
from .backup import SEQUENCED, Shape, shapes
from .config import Settings
from .migrate import Unreachable, connect, reason, safe_url
from .schema import metadata

#: every table Parley ever made, dropped from a PostgreSQL target before loading
OURS = ("alembic_version", "control", *(t.name for t in reversed(metadata.sorted_tables)))

ImageSink = Callable[[AsyncConnection, int, str, bytes], Awaitable[None]]


class Refused(Exception):
    """The restore would overwrite data, the archive is too new, or the load failed and
    was undone (one line says so)."""


def run(settings: Settings, path: Path, *, force: bool) -> int:
    manifest = verify(path)
    check_release(manifest)
    url = settings.db_url
    try:
        if url.startswith("sqlite"):
            _into_sqlite(settings, path, manifest, force=force)
        else:
            asyncio.run(_into_postgresql(settings, path, manifest, force=force))
    except (sa.exc.SQLAlchemyError, asyncpg.PostgresError) as exc:  # (COPY's are asyncpg's)
        raise Refused(f"the restore failed, and nothing was written: {reason(exc)}") from exc
    except OSError as exc:
        raise Refused(f"the restore failed, and nothing was written: {_os_reason(exc)}") \
            from exc
    staging = _image_staging(settings)
    try:
        _place_images(settings, staging)
    except OSError as exc:
        raise Refused(f"the database is restored, but its image files could not be put in "
                      f"place ({_os_reason(exc)}): move {staging} to {settings.image_dir}") \
            from exc
    rows = ", ".join(f"{t.rows} {t.name}" for t in manifest.tables)
    print(f"parley: restored {path} (revision {manifest.revision}, Parley "
          f"{manifest.parley_version}) into {safe_url(url)}: {rows}, "
          f"{manifest.images.count} images; the database is at {migrations.head()}",
          flush=True)
    return 0


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_release(manifest: Manifest) -> None:
    """Refuse an archive of a newer format, Parley release or schema revision."""
    ours = package.version("parley")
    if manifest.format_version > FORMAT_VERSION:
        raise Refused(f"the archive's format version {manifest.format_version} is newer than "
                      f"this release reads ({FORMAT_VERSION})")
    if manifest.revision not in migrations.every():
        raise Refused(f"the archive is of schema revision {manifest.revision}, which this "
                      f"release does not know (its newest is {migrations.head()}): it was "
                      f"taken by a newer Parley; restore it with that release or a newer one")
    if _version(manifest.parley_version) > _version(ours):
        raise Refused(f"the archive was taken by Parley {manifest.parley_version}, newer than "
                      f"this release ({ours}); restore it with that release or a newer one")


def _refuse_unless(force: bool, users: int, messages: int, where: str) -> None:
    if (users or messages) and not force:
        raise Refused(f"the target {where} is not empty ({users} users, {messages} messages): "
                      f"restore into an empty database, or give --force to replace "
                      f"everything in it")


# -- SQLite: a new file, put in place once complete ------------------------------------


def _into_sqlite(settings: Settings, path: Path, manifest: Manifest, *, force: bool) -> None:
    database = Path(sa.engine.make_url(settings.db_url).database or "")
    if database.exists() and not force:
        users, messages = _sqlite_counts(database)
        _refuse_unless(force, users, messages, str(database))
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = database.with_name(database.name + ".restoring").resolve()
    image_staging = _image_staging(settings)
    _remove(staging)
    shutil.rmtree(image_staging, ignore_errors=True)
    try:
        asyncio.run(_build_sqlite(settings, path, manifest, staging, image_staging))
        with contextlib.closing(sqlite3.connect(staging)) as db:
            db.execute("PRAGMA journal_mode=WAL")
        _fsync(staging)
    except BaseException:
        _remove(staging)
        shutil.rmtree(image_staging, ignore_errors=True)
        raise
    for leftover in ("-wal", "-shm"):
        _remove(database.with_name(database.name + leftover))
    os.replace(staging, database)
    _fsync(database.parent)


async def _build_sqlite(settings: Settings, path: Path, manifest: Manifest, staging: Path,
                        image_staging: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{quote(str(staging), safe='/')}")

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi: Any, _record: Any) -> None:
        for pragma in ("foreign_keys=ON", "journal_mode=MEMORY", "synchronous=OFF"):
            dbapi.execute(f"PRAGMA {pragma}")

    try:
        async with engine.begin() as conn:
            await _fill(conn, path, manifest, _sink(settings, image_staging))
    finally:
        await engine.dispose()


def _sqlite_counts(database: Path) -> tuple[int, int]:
    try:
        db = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise Unreachable(f"cannot read the database at {database}: {exc}") from exc
    try:
        present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return tuple(  # type: ignore[return-value]
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if table in present else 0
            for table in ("users", "messages"))
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the target {database} is not a Parley database ({exc}); give "
                      f"--force to replace it") from exc
    finally:
        db.close()


# -- PostgreSQL: one transaction ----------------------------------------------------------


async def _into_postgresql(settings: Settings, path: Path, manifest: Manifest, *,
                           force: bool) -> None:
    url = settings.db_url
    engine = create_async_engine(url)
    image_staging = _image_staging(settings)
    try:
        conn = await connect(engine, url)
        try:
            async with conn.begin():
                if not force:
                    users, messages = await _pg_counts(conn)
                    _refuse_unless(force, users, messages, safe_url(url))
                shutil.rmtree(image_staging, ignore_errors=True)
                for table in OURS:
                    await conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
                await _fill(conn, path, manifest, _sink(settings, image_staging))
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
        except BaseException:
            shutil.rmtree(image_staging, ignore_errors=True)
            raise
        finally:
            await conn.close()
    finally:
        await engine.dispose()


async def _pg_counts(conn: AsyncConnection) -> tuple[int, int]:
    present = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    counts = []
    for table in ("users", "messages"):
        counts.append(int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}")))
                          .scalar() or 0) if table in present else 0)
    return counts[0], counts[1]


# -- both: migrate, load, migrate ---------------------------------------------------------


def _migrate(conn: sa.Connection, revision: str) -> None:
    command.upgrade(migrations._config(conn), revision)


async def _fill(conn: AsyncConnection, path: Path, manifest: Manifest,
                sink: ImageSink) -> None:
    await conn.run_sync(_migrate, manifest.revision)
    found = {shape.name: shape for shape in await conn.run_sync(shapes)}
    _match(found, manifest)
    for shape in reversed(list(found.values())):
        await conn.execute(shape.table.delete())
    rebuild = await _drop_indexes(conn)
    await _load(conn, path, manifest, found, sink)
    for statement in rebuild:
        await conn.exec_driver_sql(statement)
    await conn.run_sync(_migrate, "head")
    await _set_sequences(conn, manifest)


async def _drop_indexes(conn: AsyncConnection) -> list[str]:
    """Drop what the load would otherwise keep up to date row by row, at great cost: the
    search index (SQLite: the FTS5 insert trigger; PostgreSQL: the messages' indexes
    that back no constraint, the GIN index among them); the statements that make it
    again, at once, after the load."""
    if conn.dialect.name == "sqlite":
        found = (await conn.execute(sa.text(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
            "AND name = 'messages_fts_insert'"))).scalar()
        if found is None:
            return []
        await conn.exec_driver_sql("DROP TRIGGER messages_fts_insert")
        return [str(found), "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')"]
    indexes = (await conn.execute(sa.text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
        "current_schema() AND i.tablename = 'messages' AND NOT EXISTS (SELECT 1 FROM "
        "pg_constraint c WHERE c.conname = i.indexname) AND i.indexdef NOT LIKE "
        "'CREATE UNIQUE%'"))).all()
    for name, _ in indexes:
        await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [str(definition) for _, definition in indexes]


async def _insert(conn: AsyncConnection, shape: Shape, rows: list[dict[str, Any]]) -> None:
    """Insert rows (PostgreSQL: by ``COPY``, in the same transaction)."""
    if conn.dialect.name != "postgresql":
        await conn.execute(shape.table.insert(), rows)
        return
    columns = list(rows[0])
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_records_to_table(
        shape.name, records=[tuple(row[c] for c in columns) for row in rows], columns=columns)


def _match(found: dict[str, Shape], manifest: Manifest) -> None:
    """The archive's tables and columns must be those of its revision."""
    archived = {t.name: t.columns for t in manifest.tables}
    expected = {name: shape.columns for name, shape in found.items()}
    if archived != expected:
        raise ArchiveError(f"the archive's tables do not match schema revision "
                           f"{manifest.revision}: not written by Parley, or corrupted")


async def _load(conn: AsyncConnection, path: Path, manifest: Manifest,
                found: dict[str, Shape], sink: ImageSink) -> None:
    for name, data in members(path):
        if name in (MANIFEST, MANIFEST_SUM):
            continue
        if manifest.members.get(name) != sha256(data):
            raise ArchiveError(f"member {name} changed since the archive was checked")
        table = TABLE_MEMBER.fullmatch(name)
        image = IMAGE_MEMBER.fullmatch(name)
        if table and table[1] in found:
            shape = found[table[1]]
            rows = [_decode(line, shape) for line in data.splitlines()]
            if rows:
                await _insert(conn, shape, rows)
        elif image:
            await sink(conn, int(image[1]), image[2], data)
        else:
            raise ArchiveError(f"unexpected member {name!r} in the archive")


def _decode(line: bytes, shape: Shape) -> dict[str, Any]:
    try:
        row = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise ArchiveError(f"a row of table {shape.name} is not JSON: {exc}") from exc
    if not isinstance(row, dict) or set(row) != set(shape.columns):
        raise ArchiveError(f"a row of table {shape.name} does not have its columns")
    for column in shape.binary:
        if row[column] is not None:
            row[column] = base64.b64decode(row[column])
    if shape.name == "images":
        row["data"] = None
    return row


async def _set_sequences(conn: AsyncConnection, manifest: Manifest) -> None:
    """Ids to come follow the archive's: never below its sequences nor its rows."""
    for table in SEQUENCED:
        top = int((await conn.execute(sa.text(f"SELECT max(id) FROM {table}"))).scalar() or 0)
        value = max(top, manifest.sequences.get(table, 0))
        if conn.dialect.name == "sqlite":
            if value == 0:
                continue
            done = await conn.execute(sa.text(
                "UPDATE sqlite_sequence SET seq = :v WHERE name = :t"), {"v": value, "t": table})
            if done.rowcount == 0:
                await conn.execute(sa.text(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :v)"),
                    {"v": value, "t": table})
            continue
        await conn.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, :called)"),
            {"t": table, "v": max(value, 1), "called": value > 0})


# -- images -------------------------------------------------------------------------------


def _image_staging(settings: Settings) -> Path:
    return settings.image_dir.with_name(settings.image_dir.name + ".restoring")


def _sink(settings: Settings, staging: Path) -> ImageSink:
    """Where image bytes go: the ``images`` row, or a file of the staging dir."""
    if settings.images_in_database:
        async def into_row(conn: AsyncConnection, chat_id: int, name: str, data: bytes) -> None:
            await conn.execute(sa.text(
                "UPDATE images SET data = :d WHERE chat_id = :c AND name = :n"),
                {"d": data, "c": chat_id, "n": name})
        return into_row

    async def into_file(conn: AsyncConnection, chat_id: int, name: str, data: bytes) -> None:
        await asyncio.to_thread(_write, staging / str(chat_id), name, data)
    return into_file


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / name, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _place_images(settings: Settings, staging: Path) -> None:
    """The restored image files replace the data dir's (none when images are rows)."""
    if settings.images_in_database:
        return
    target = settings.image_dir
    if target.exists():
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    if staging.exists():
        os.replace(staging, target)


def _os_reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"{text}: {exc.filename}" if exc.filename else text


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
