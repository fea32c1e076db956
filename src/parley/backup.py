"""``parley backup OUTPUT``: the whole database and its images in one archive, taken
from one snapshot while servers keep writing.

The snapshot: on SQLite a read transaction (the database is in WAL mode, so writers go
on; the WAL cannot be checkpointed past the snapshot until the backup ends, and grows
meanwhile), on PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction. Every table is
read in it, streamed in batches (memory stays flat whatever the size), so the archive
holds exactly what was committed when the backup began: each chat's ``last_id`` is its
newest message in the archive, and every message a server acknowledged before is in it.

Images are the ``images`` rows of that snapshot; their bytes come from the row (images
in the database) or from the file in the data dir. A file is never rewritten (its name
is its content's MD5), but it is deleted when its message is removed or its chat
deleted: if that happened after the snapshot began, the row is left out of the archive,
named in the manifest's ``images.missing`` and on stderr, so that every image row of the
archive has its bytes (the restored message shows the image as gone, as it would have a
moment later on the running server).

Left out: ``alembic_version`` (the manifest's ``revision``), ``control`` (the queue of
events for running servers, which concern those processes only), and the derived search
structures (SQLite's FTS5 ``messages_fts``, PostgreSQL's generated ``search`` column),
which a restore rebuilds.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from dataclasses import dataclass
from importlib import metadata as package
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from . import migrations, schema
from .archive import (
    CHUNK_BYTES,
    FORMAT,
    FORMAT_VERSION,
    ArchiveWriter,
    ImageInfo,
    Manifest,
    TableInfo,
)
from .config import Settings
from .migrate import connect, reason

#: tables never archived (see the module's docstring)
LEFT_OUT = {
    "alembic_version": "the schema revision is the manifest's 'revision'",
    "control": "events queued for the servers running at the time, of no use to others",
    "messages_fts": "SQLite's search index, rebuilt from the messages by a restore",
    "search_backlog": "SQLite's messages waiting for the search index, which a restore "
                      "rebuilds from every message",
    "search": "PostgreSQL's generated search column of messages, computed again by a restore",
}
#: columns derived from others, never archived
DERIVED = {("messages", "search")}
#: tables whose ids come from a sequence, kept in the manifest
SEQUENCED = ("users", "chats")
#: rows read from the database at a time
BATCH = 2000
#: images read before their rows' chunk is written
IMAGE_BATCH_BYTES = 16 * 1024 * 1024


class BackupError(Exception):
    """The backup cannot be taken (one line says why)."""


@dataclass(frozen=True)
class Shape:
    """A table as archived: its reflected form, the columns kept, those holding bytes."""

    table: sa.Table
    columns: list[str]
    binary: list[str]

    @property
    def name(self) -> str:
        return str(self.table.name)


def shapes(conn: sa.Connection) -> list[Shape]:
    """The tables to archive as this database has them (an older revision has fewer
    tables and columns), in dependency order; ``images.data`` travels as image members."""
    present = set(sa.inspect(conn).get_table_names())
    names = [t.name for t in schema.metadata.sorted_tables
             if t.name in present and t.name not in LEFT_OUT]
    reflected = sa.MetaData()
    reflected.reflect(conn, only=names)
    out = []
    for name in names:
        table = reflected.tables[name]
        columns = [str(c.name) for c in table.columns if (name, c.name) not in DERIVED
                   and not (name == "images" and c.name == "data")]
        binary = [c for c in columns if isinstance(table.c[c].type, sa.LargeBinary)]
        out.append(Shape(table, columns, binary))
    return out


def encode_row(row: Any, shape: Shape) -> bytes:
    mapping = row._mapping
    values = {column: mapping[column] for column in shape.columns}
    for column in shape.binary:
        if values[column] is not None:
            values[column] = base64.b64encode(values[column]).decode("ascii")
    return msgspec.json.encode(values) + b"\n"


def run(settings: Settings, output: Path, *, level: int) -> int:
    url = settings.db_url
    if url.startswith("sqlite"):
        path = Path(sa.engine.make_url(url).database or "")
        if not path.is_file():
            raise BackupError(f"there is no database at {path}")
    if output.is_dir():
        raise BackupError(f"{output} is a directory")
    try:
        manifest = asyncio.run(_backup(settings, output, level))
    except sa.exc.SQLAlchemyError as exc:
        raise BackupError(f"reading the database failed, no archive written: "
                          f"{reason(exc)}") from exc
    except OSError as exc:
        raise BackupError(f"cannot write {output}: {exc.strerror or exc}") from exc
    print(f"parley: backup of revision {manifest.revision} written to {output}: "
          + ", ".join(f"{t.rows} {t.name}" for t in manifest.tables)
          + f", {manifest.images.count} images ({manifest.images.bytes} bytes)", flush=True)
    return 0


async def _backup(settings: Settings, output: Path, level: int) -> Manifest:
    url = settings.db_url
    engine = create_async_engine(url)
    try:
        conn = await connect(engine, url)
        try:
            manifest = await _take(conn, settings, output, level)
        finally:
            await conn.close()
    finally:
        await engine.dispose()
    return manifest


async def _take(conn: AsyncConnection, settings: Settings, output: Path,
                level: int) -> Manifest:
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # pysqlite begins no transaction for reads: BEGIN, then a read fixes the snapshot
        await conn.exec_driver_sql("BEGIN")
    else:
        await conn.execution_options(isolation_level="REPEATABLE READ",
                                     postgresql_readonly=True)
        await conn.begin()
    revision = await _revision(conn)
    created_ms = int(time.time() * 1000)
    found = await conn.run_sync(shapes)
    sequences = await _sequences(conn, dialect)
    writer = ArchiveWriter(output, level)
    try:
        infos: list[TableInfo] = []
        images = ImageInfo(0, 0, [])
        for shape in found:
            if shape.name == "images":
                rows = await _images(conn, shape, writer, settings.image_dir, images)
            else:
                rows = await _table(conn, shape, writer)
            infos.append(TableInfo(shape.name, shape.columns, shape.binary, rows))
        await conn.rollback()
        manifest = Manifest(
            format=FORMAT, format_version=FORMAT_VERSION,
            parley_version=package.version("parley"), revision=revision,
            created_ms=created_ms, source=dialect, tables=infos, images=images,
            sequences=sequences, members=writer.sums, left_out=LEFT_OUT)
        writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise
    return manifest


async def _revision(conn: AsyncConnection) -> str:
    try:
        found = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).first()
    except sa.exc.DBAPIError as exc:
        raise BackupError("the database has no Parley schema (never migrated)") from exc
    if found is None:
        raise BackupError("the database has no Parley schema (never migrated)")
    revision = str(found[0])
    if revision not in migrations.every():
        raise migrations.NewerSchema(revision, migrations.head())
    return revision


async def _sequences(conn: AsyncConnection, dialect: str) -> dict[str, int]:
    out = {}
    for table in SEQUENCED:
        top = (await conn.execute(sa.text(f"SELECT max(id) FROM {table}"))).scalar()
        value = int(top or 0)
        if dialect == "sqlite":
            seq = (await conn.execute(sa.text(
                "SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table})).scalar()
        else:
            seq = (await conn.execute(sa.text(
                f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM "
                f"{await _sequence_name(conn, table)}"))).scalar()
        out[table] = max(value, int(seq or 0))
    return out


async def _sequence_name(conn: AsyncConnection, table: str) -> str:
    name = (await conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                               {"t": table})).scalar()
    if name is None:
        raise BackupError(f"table {table} has no id sequence")
    return str(name)


def _select(shape: Shape, *extra: str) -> sa.Select[Any]:
    columns = [shape.table.c[c] for c in (*shape.columns, *extra)]
    return sa.select(*columns).execution_options(yield_per=BATCH)


async def _table(conn: AsyncConnection, shape: Shape, writer: ArchiveWriter) -> int:
    """Stream a table's rows into chunks; the rows written."""
    rows = 0
    chunk = bytearray()
    part = 0
    result = await conn.stream(_select(shape))
    async for batch in result.partitions():
        for row in batch:
            chunk += encode_row(row, shape)
            rows += 1
        if len(chunk) >= CHUNK_BYTES:
            writer.add(f"tables/{shape.name}/{part:06d}.jsonl", bytes(chunk))
            part += 1
            chunk.clear()
    if chunk:
        writer.add(f"tables/{shape.name}/{part:06d}.jsonl", bytes(chunk))
    return rows


async def _images(conn: AsyncConnection, shape: Shape, writer: ArchiveWriter,
                  image_dir: Path, info: ImageInfo) -> int:
    """The ``images`` rows in chunks, each followed by the bytes of the images it names."""
    rows = 0
    part = 0
    pending: list[tuple[Any, bytes]] = []
    held = 0

    def flush() -> None:
        nonlocal part, held
        if not pending:
            return
        writer.add(f"tables/images/{part:06d}.jsonl",
                   b"".join(encode_row(row, shape) for row, _ in pending))
        part += 1
        for row, data in pending:
            writer.add(f"images/{int(row.chat_id)}/{row.name}", data)
        pending.clear()
        held = 0

    result = await conn.stream(_select(shape, "data"))
    async for batch in result.partitions():
        for row in batch:
            data = row.data if row.data is not None else _file(image_dir, row)
            if data is None:
                where = f"{int(row.chat_id)}/{row.name}"
                info.missing.append(where)
                print(f"parley: image {where} was deleted after the snapshot began; "
                      f"left out", file=sys.stderr, flush=True)
                continue
            pending.append((row, bytes(data)))
            held += len(data)
            rows += 1
            info.count += 1
            info.bytes += len(data)
            if held >= IMAGE_BATCH_BYTES or len(pending) >= BATCH:
                flush()
    flush()
    return rows


def _file(image_dir: Path, row: Any) -> bytes | None:
    try:
        return (image_dir / str(int(row.chat_id)) / str(row.name)).read_bytes()
    except FileNotFoundError:
        return None

