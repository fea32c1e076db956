"""`python -m parley_bench.store_cost`: the CPU cost of storing a message on SQLite.

Process CPU time (the event loop's thread and the SQLite writer's thread together),
per 1,000 messages, of ``SqlStore.insert_messages`` in batches the size the writer
takes under load, on a database that already holds ``--prefill`` messages. CPU time
rather than wall time: on a busy machine it moves far less between runs.

Variants of the search index (``--variants``):

- ``fts-prefix``: an FTS5 table with prefix indexes of 1, 2 and 3 characters, filled
  by a trigger in the writer's transaction (migration ``0007_search``);
- ``fts``: the same table without prefix indexes, filled by the same trigger;
- ``none``: no search index at all (the floor);
- ``backlog``: the index of the current schema (``0010_search_backlog``): no trigger on
  insert, the messages indexed after their commit, many batches at once, by
  :meth:`parley.store.SqlStore.index_backlog` (its CPU counted here too).

On PostgreSQL (``--postgres URL``: a server where a database may be created), the
variants are ``pg`` (the generated ``tsvector`` column and its GIN index of ``0007``)
and ``pg-plain`` (neither); the CPU counted is this process's plus that of the server
processes serving its connections (read through psutil, so the computed vectors count).

``--profile`` prints the cProfile of the first variant's run, the functions sorted by
their own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from parley.model import Draft
from parley.store import SqlStore

from .vocabulary import Vocabulary

_TRIGGER_0007 = (
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END")


def _prepare(path: Path, variant: str) -> None:
    """Turn the freshly migrated database into the variant's schema."""
    db = sqlite3.connect(path)
    if variant in ("fts-prefix", "fts", "none"):
        db.execute("DROP TRIGGER IF EXISTS messages_fts_insert")
    if variant in ("fts-prefix", "fts"):
        prefix = ", prefix='1 2 3'" if variant == "fts-prefix" else ""
        db.execute("DROP TABLE messages_fts")
        db.execute("CREATE VIRTUAL TABLE messages_fts USING fts5("
                   "text, content='messages', content_rowid='rowid', "
                   f"tokenize='unicode61 remove_diacritics 2'{prefix})")
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        db.execute(_TRIGGER_0007)
        db.execute("DROP TRIGGER IF EXISTS messages_fts_update")
        db.execute("DROP TRIGGER IF EXISTS messages_fts_delete")
    if variant == "none":
        db.execute("DROP TRIGGER IF EXISTS messages_fts_update")
        db.execute("DROP TRIGGER IF EXISTS messages_fts_delete")
    db.commit()
    db.close()


async def _admin(server: str, statement: str) -> None:
    engine = create_async_engine(server.replace("postgresql://", "postgresql+asyncpg://", 1),
                                 isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def _backends(store: SqlStore) -> list[Any]:
    """The PostgreSQL server processes of the store's database (its pool's connections):
    ``psutil`` processes (psutil is in the bench's own venv, ``bench/.venv``)."""
    import psutil

    async with store.engine.connect() as conn:
        pids = (await conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))).scalars()
        return [psutil.Process(pid) for pid in pids]


def _cpu(processes: list[Any]) -> float:
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def _run(path: Path, variant: str, *, prefill: int, count: int, batch: int,
               index_every: int, profile: cProfile.Profile | None,
               postgres: str | None = None) -> float:
    """CPU µs per message of storing ``count`` messages (after ``prefill`` more)."""
    url = f"sqlite+aiosqlite:///{path}"
    if variant.startswith("pg"):
        assert postgres is not None, "--postgres is needed"
        name = f"store_cost_{uuid.uuid4().hex[:8]}"
        await _admin(postgres, f'CREATE DATABASE "{name}"')
        url = postgres.rsplit("/", 1)[0] + "/" + name
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        try:
            return await _run_postgres(url, variant, prefill=prefill, count=count,
                                       batch=batch)
        finally:
            await _admin(postgres, f'DROP DATABASE "{name}" WITH (FORCE)')
    store = await SqlStore.open(url, sqlite_synchronous="NORMAL")
    chat_ids = []
    user = await store.create_user("writer", "writer", "hash")
    assert user is not None
    for n in range(10):
        chat = await store.create_chat(f"room{n}", user.id, None)
        assert chat is not None
        chat_ids.append(chat.id)
    await store.close()
    _prepare(path, variant)
    store = await SqlStore.open(f"sqlite+aiosqlite:///{path}", sqlite_synchronous="NORMAL")
    vocabulary = Vocabulary(seed=11)
    backlog = variant == "backlog"

    def drafts(n: int) -> list[Draft]:
        return [Draft(chat_id=chat_ids[i % len(chat_ids)], chat="room", user_id=user.id,
                      login="writer", text=vocabulary.text(), image=None, image_size=0,
                      image_data=None, nonce=None, created_ms=1) for i in range(n)]

    async def write(total: int) -> None:
        since = 0
        for start in range(0, total, batch):
            await store.insert_messages(drafts(min(batch, total - start)))
            since += batch
            if backlog and since >= index_every:
                await store.index_backlog()
                since = 0
        if backlog:
            await store.index_backlog()

    await write(prefill)
    # the drafts' text is drawn before the clock starts
    texts = drafts(count)
    started = time.process_time()
    if profile is not None:
        profile.enable()
    since = 0
    for start in range(0, count, batch):
        if profile is not None:  # in this thread, where cProfile sees it
            store._sqlite_batch(texts[start:start + batch])
        else:
            await store.insert_messages(texts[start:start + batch])
        since += batch
        if backlog and since >= index_every:
            await store.index_backlog()
            since = 0
    if backlog:
        await store.index_backlog()
    if profile is not None:
        profile.disable()
    spent = time.process_time() - started
    await store.close()
    return spent / count * 1e6


async def _run_postgres(url: str, variant: str, *, prefill: int, count: int,
                        batch: int) -> float:
    store = await SqlStore.open(url)
    if variant == "pg-plain":
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("DROP INDEX messages_search"))
            await conn.execute(sa.text("ALTER TABLE messages DROP COLUMN search"))
    user = await store.create_user("writer", "writer", "hash")
    assert user is not None
    chat_ids = []
    for n in range(10):
        chat = await store.create_chat(f"room{n}", user.id, None)
        assert chat is not None
        chat_ids.append(chat.id)
    vocabulary = Vocabulary(seed=11)

    def drafts(n: int) -> list[Draft]:
        return [Draft(chat_id=chat_ids[i % len(chat_ids)], chat="room", user_id=user.id,
                      login="writer", text=vocabulary.text(), image=None, image_size=0,
                      image_data=None, nonce=None, created_ms=1) for i in range(n)]

    for start in range(0, prefill, batch):
        await store.insert_messages(drafts(min(batch, prefill - start)))
    texts = drafts(count)
    backends = await _backends(store)
    started = time.process_time() + _cpu(backends)
    for start in range(0, count, batch):
        await store.insert_messages(texts[start:start + batch])
    spent = time.process_time() + _cpu(backends) - started
    await store.close()
    return spent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m parley_bench.store_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="fts-prefix,fts,none,backlog")
    parser.add_argument("--prefill", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=64,
                        help="messages per insert_messages (the writer's batch)")
    parser.add_argument("--index-every", type=int, default=512,
                        help="backlog: messages stored between two index passes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL database URL, for the pg variants")
    args = parser.parse_args()
    for index, variant in enumerate(args.variants.split(",")):
        costs = []
        for repeat in range(args.repeats):
            profile = cProfile.Profile() if args.profile and index == 0 and repeat == 0 else None
            with tempfile.TemporaryDirectory() as tmp:
                costs.append(asyncio.run(_run(
                    Path(tmp) / "parley.db", variant, prefill=args.prefill, count=args.count,
                    batch=args.batch, index_every=args.index_every, profile=profile,
                    postgres=args.postgres)))
            if profile is not None:
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
                print(out.getvalue())
        costs.sort()
        print(f"{variant:12} CPU per message: best {costs[0]:6.1f} µs, "
              f"median {costs[len(costs) // 2]:6.1f} µs  ({args.count} messages, "
              f"batches of {args.batch})", flush=True)


if __name__ == "__main__":
    main()
