"""`python -m parley_bench.search`: search latency on a database of a million messages.

For each database (SQLite, PostgreSQL): a fresh database migrated by ``SqlStore.open``,
users and chats made through the store (open chats, closed chats the searcher is a
member of or not, direct chats), then ``--messages`` messages of
:class:`~parley_bench.vocabulary.Vocabulary` text written straight into ``messages``
in batches (SQLite: ``executemany`` with the index's insert trigger dropped, the FTS5
index built once afterwards by ``rebuild`` and the trigger put back; PostgreSQL:
``COPY``, with the search indexes dropped and built again afterwards). Then
``SqlStore.search`` (the query a ``search`` request runs) is timed, one query at a
time, for each kind of query; p50, p95 and the slowest are printed as a Markdown table
and kept in ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from parley.config import normalize_database_url
from parley.model import Draft
from parley.search import RESULTS, words
from parley.store import SqlStore

from .vocabulary import Vocabulary

T0 = 1_700_000_000_000
BATCH = 20_000


@dataclass
class Timing:
    database: str
    kind: str
    queries: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    #: CPU time of this process (SQLite runs in it; PostgreSQL's server does not): None
    cpu_p50_ms: float | None
    cpu_p95_ms: float | None
    mean_results: float


@dataclass
class Layout:
    """The chats made, by id: whether the searcher may read each one."""

    readable: dict[int, bool]
    searcher: int
    logins: dict[int, str]


async def make_chats(store: SqlStore, chats: int) -> Layout:
    """``chats`` chats: 3 of 4 open, the rest closed (the searcher a member of every
    other one), and 2 direct chats, the searcher in one of them."""
    logins = {}
    for n in range(20):
        user = await store.create_user(f"user{n}", f"user{n}", "hash")
        assert user is not None
        logins[user.id] = user.login
    searcher, *others = list(logins)
    readable: dict[int, bool] = {}
    general = await store.find_chat("general")
    assert general is not None
    readable[general.id] = True
    for n in range(chats - 3):
        closed = n % 4 == 3
        owner = others[n % len(others)]
        chat = await store.create_chat(f"chat{n}", owner, "hash" if closed else None)
        assert chat is not None
        readable[chat.id] = not closed or n % 8 == 3
        if closed and readable[chat.id]:
            await store.add_member(chat.id, searcher)
    for n, pair in enumerate(((searcher, others[0]), (others[1], others[2]))):
        direct = await store.create_direct(f"@direct{n}", ",".join(map(str, pair)), pair)
        assert direct is not None
        readable[direct.id] = searcher in pair
    return Layout(readable, searcher, logins)


class Messages:
    """The message rows, oldest first, spread over the chats (some busier than others),
    in batches; ``last`` is each chat's newest id once they are all out."""

    def __init__(self, layout: Layout, vocabulary: Vocabulary, count: int) -> None:
        self.layout, self.vocabulary, self.count = layout, vocabulary, count
        self.last = dict.fromkeys(layout.readable, 0)

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        chat_ids = list(self.layout.readable)
        weights = [1.0 / (i + 1) ** 0.5 for i in range(len(chat_ids))]
        rng = random.Random(3)
        users = list(self.layout.logins)
        batch: list[tuple[Any, ...]] = []
        for n in range(self.count):
            chat_id = rng.choices(chat_ids, weights)[0]
            self.last[chat_id] += 1
            user_id = rng.choice(users)
            batch.append((chat_id, self.last[chat_id], user_id, self.layout.logins[user_id],
                          self.vocabulary.text(), None, None, T0 + n * 1000))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


INSERT = ("INSERT INTO messages (chat_id, id, user_id, login, text, image, nonce, created_ms) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def load_sqlite(path: Path, layout: Layout, vocabulary: Vocabulary, count: int) -> float:
    """Write the messages; seconds taken, the index built after the rows."""
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                         "AND name = 'messages_fts_insert'").fetchone()[0]
    db.execute("DROP TRIGGER messages_fts_insert")
    messages = Messages(layout, vocabulary, count)
    for batch in messages.batches():
        db.executemany(INSERT, batch)
        db.commit()
    for chat_id, last in messages.last.items():
        db.execute("UPDATE chats SET last_id = ? WHERE id = ?", (last, chat_id))
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    db.execute(trigger)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


async def load_postgresql(url: str, layout: Layout, vocabulary: Vocabulary, count: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("DROP INDEX messages_search")
        await conn.execute("DROP INDEX messages_newest")
        columns = ["chat_id", "id", "user_id", "login", "text", "image", "nonce", "created_ms"]
        messages = Messages(layout, vocabulary, count)
        for batch in messages.batches():
            await conn.copy_records_to_table("messages", records=batch, columns=columns)
        for chat_id, last in messages.last.items():
            await conn.execute("UPDATE chats SET last_id = $1 WHERE id = $2", last, chat_id)
        await conn.execute("CREATE INDEX messages_search ON messages USING gin (search)")
        await conn.execute(
            "CREATE INDEX messages_newest ON messages (created_ms, chat_id, id)")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


def kinds(vocabulary: Vocabulary, layout: Layout) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each kind of query: a function that makes one (``words`` and store arguments)."""
    rng = random.Random(11)
    readable = [chat_id for chat_id, ok in layout.readable.items() if ok]

    def one() -> dict[str, Any]:
        return {"text": vocabulary.draw(1)[0]}

    def two() -> dict[str, Any]:
        return {"text": " ".join(vocabulary.draw(2))}

    def prefix() -> dict[str, Any]:
        word = ""
        while len(word) < 4:
            word = vocabulary.draw(1)[0]
        return {"text": word[:3]}

    def rare() -> dict[str, Any]:
        return {"text": rng.choice(vocabulary.words[5000:])}

    def common() -> dict[str, Any]:
        return {"text": rng.choice(vocabulary.words[:20])}

    def in_chat() -> dict[str, Any]:
        return {"text": vocabulary.draw(1)[0], "chat_id": rng.choice(readable)}

    return {"one word": one, "two words": two, "prefix (3 letters)": prefix,
            "one rare word": rare, "one of the 20 commonest words": common,
            "one word, one chat": in_chat}


async def measure(store: SqlStore, database: str, layout: Layout, vocabulary: Vocabulary,
                  queries: int) -> list[Timing]:
    names = {chat_id: name for chat_id, name in (await _chat_names(store)).items()}
    out = []
    for kind, make in kinds(vocabulary, layout).items():
        times, cpu, found = [], [], []
        for n in range(queries + 10):
            query = make()
            chat = names[query["chat_id"]] if "chat_id" in query else None
            started, used = time.perf_counter(), time.process_time()
            result = await store.search(layout.searcher, words(query["text"]), chat=chat,
                                        limit=RESULTS)
            elapsed = (time.perf_counter() - started) * 1000
            if n >= 10:  # (the first ten warm the caches)
                times.append(elapsed)
                cpu.append((time.process_time() - used) * 1000)
                found.append(len(result))
        in_process = database == "sqlite"
        out.append(Timing(database, kind, queries, _pick(times, 0.5), _pick(times, 0.95),
                          _pick(times, 1.0), _pick(cpu, 0.5) if in_process else None,
                          _pick(cpu, 0.95) if in_process else None,
                          round(statistics.mean(found), 1)))
        print(f"  {database:10} {kind:32} p50 {out[-1].p50_ms:8.2f} ms  "
              f"p95 {out[-1].p95_ms:8.2f} ms  max {out[-1].max_ms:8.2f} ms  "
              f"cpu p50 {out[-1].cpu_p50_ms} p95 {out[-1].cpu_p95_ms}", flush=True)
    return out


def _remove(path: Path) -> None:
    """Remove the SQLite database ``path`` of an earlier run, with its WAL files."""
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()


def _pick(values: list[float], quantile: float) -> float:
    """The ``quantile`` of ``values`` (nearest rank), rounded to 0.01."""
    ordered = sorted(values)
    return round(ordered[max(0, round(quantile * len(ordered)) - 1)], 2)


async def write_cost(directory: Path, vocabulary: Vocabulary, count: int,
                     rounds: int = 3) -> dict[str, float]:
    """The cost of the index to writes: ``count`` messages through
    ``SqlStore.insert_messages`` (the writer's path, batches of 50,
    ``synchronous=NORMAL``) on a new SQLite database with the search index and on one
    with its triggers dropped, ``rounds`` times by turns; the best round of each, as
    messages a second and as CPU microseconds a message."""
    texts = [vocabulary.text() for _ in range(count)]
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for kind in ("indexed", "plain"):
            wall, cpu = await _write_round(directory / f"write-{kind}.db", kind == "indexed",
                                           texts)
            old = best.get(kind, (float("inf"), float("inf")))
            best[kind] = (min(old[0], wall), min(old[1], cpu))
    rates: dict[str, float] = {}
    for kind, (wall, cpu) in best.items():
        rates[f"{kind} messages/s"] = round(count / wall)
        rates[f"{kind} CPU us/message"] = round(cpu / count * 1e6, 1)
    return rates


async def _write_round(path: Path, indexed: bool, texts: list[str]) -> tuple[float, float]:
    """Seconds and CPU seconds to write ``texts`` on a new database at ``path``."""
    _remove(path)
    store = await SqlStore.open(f"sqlite+aiosqlite:///{path}", sqlite_synchronous="NORMAL")
    try:
        if not indexed:
            async with store.engine.begin() as conn:
                for name in ("insert", "update", "delete"):
                    await conn.execute(sa.text(f"DROP TRIGGER messages_fts_{name}"))
        user = await store.create_user("writer", "writer", "hash")
        chat = await store.find_chat("general")
        assert user is not None
        assert chat is not None
        drafts = [Draft(chat.id, chat.name, user.id, user.login, text, None, 0, None, None,
                        T0 + n) for n, text in enumerate(texts)]
        started, used = time.perf_counter(), time.process_time()
        for first in range(0, len(drafts), 50):
            await store.insert_messages(drafts[first:first + 50])
        return time.perf_counter() - started, time.process_time() - used
    finally:
        await store.close()


async def _chat_names(store: SqlStore) -> dict[int, str]:
    async with store.engine.connect() as conn:
        found = await conn.execute(sa.text("SELECT id, name FROM chats"))
        return {row.id: row.name for row in found}


async def run_one(database: str, args: argparse.Namespace, vocabulary: Vocabulary) -> list[Timing]:
    if database == "sqlite":
        path = args.dir / "search.db"
        _remove(path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        admin = create_async_engine(normalize_database_url(args.pg_url),
                                    isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(sa.text("DROP DATABASE IF EXISTS parley_search_bench WITH (FORCE)"))
            await conn.execute(sa.text("CREATE DATABASE parley_search_bench"))
        await admin.dispose()
        url = normalize_database_url(args.pg_url).rsplit("/", 1)[0] + "/parley_search_bench"
    store = await SqlStore.open(url)
    layout = await make_chats(store, args.chats)
    await store.close()
    print(f"{database}: writing {args.messages:,} messages ...", flush=True)
    if database == "sqlite":
        seconds = await asyncio.to_thread(load_sqlite, path, layout, vocabulary, args.messages)
    else:
        seconds = await load_postgresql(url.replace("+asyncpg", ""), layout, vocabulary,
                                        args.messages)
    print(f"{database}: written and indexed in {seconds:.0f} s", flush=True)
    store = await SqlStore.open(url)
    try:
        return await measure(store, database, layout, vocabulary, args.queries)
    finally:
        await store.close()


def table(timings: list[Timing]) -> str:
    lines = ["| database | query | p50 ms | p95 ms | slowest ms | CPU p50 ms | CPU p95 ms "
             "| results (mean) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {t.database} | {t.kind} | {t.p50_ms} | {t.p95_ms} | {t.max_ms} | "
              f"{'' if t.cpu_p50_ms is None else t.cpu_p50_ms} | "
              f"{'' if t.cpu_p95_ms is None else t.cpu_p95_ms} | {t.mean_results} |"
              for t in timings]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m parley_bench.search", description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000,
                        help="messages to search (0: measure the cost to writes only)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200, help="timed queries of each kind")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a database of the server to make the benchmark's database on")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/parley-search-bench"),
                        help="where the SQLite database is made")
    parser.add_argument("--writes", type=int, default=10_000,
                        help="messages written to measure the index's cost on SQLite (0: skip)")
    parser.add_argument("--out", type=Path, help="write the timings here as JSON")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    rates = asyncio.run(write_cost(args.dir, Vocabulary(), args.writes)) if args.writes else {}
    if rates:
        print(f"SQLite writes: {rates}", flush=True)
    timings: list[Timing] = []
    for database in args.databases.split(",") if args.messages else []:
        timings += asyncio.run(run_one(database.strip(), args, Vocabulary()))
    print(table(timings))
    if args.out:
        args.out.write_text(json.dumps({"writes": rates,
                                        "timings": [asdict(t) for t in timings]}, indent=2))


if __name__ == "__main__":
    main()
