"""`python -m parley_bench.backup`: ``parley backup`` and ``parley restore`` on a database
of a million messages: time, peak memory, archive size.

The SQLite database is made as the search benchmark makes it
(:mod:`parley_bench.search`: users and chats through the store, then ``--messages``
messages of chat-like text written straight into ``messages``, the search index built
once). Then, each command a child process under ``/usr/bin/time -v`` (wall time, CPU
time, peak resident memory):

1. ``parley backup`` of the SQLite database, at gzip level 1 (the default), and at
   levels 0 (none) and 6 to show what compression costs;
2. ``parley restore`` of the level-1 archive into a new SQLite data dir;
3. ``parley restore`` of it into a new PostgreSQL database;
4. ``parley backup`` of that PostgreSQL database.

Prints a Markdown table; ``--out`` keeps the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from parley.config import normalize_database_url
from parley.store import SqlStore

from .search import load_sqlite, make_chats
from .vocabulary import Vocabulary

DATABASE = "parley_backup_bench"


@dataclass
class Run:
    step: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    archive_mb: float | None


def timed(step: str, args: list[str], archive: Path | None = None) -> Run:
    """Run ``parley ARGS`` under ``/usr/bin/time -v``; its figures."""
    env = {**os.environ, "PARLEY_LOG_LEVEL": "WARNING"}
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "parley", *args],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed: {done.stderr}")
    stats = done.stderr

    def field(name: str) -> str:
        found = re.search(rf"^\s*{re.escape(name)}: (.+)$", stats, re.MULTILINE)
        assert found, name
        return found[1]

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)")) / 1024
    size = archive.stat().st_size / 1e6 if archive is not None else None
    run = Run(step, round(wall, 1), round(cpu, 1), round(rss, 1),
              None if size is None else round(size, 1))
    print(f"{run}", flush=True)
    return run


async def make_source(directory: Path, messages: int, chats: int) -> None:
    path = directory / "parley.db"
    store = await SqlStore.open(f"sqlite+aiosqlite:///{path}")
    layout = await make_chats(store, chats)
    await store.close()
    seconds = await asyncio.to_thread(load_sqlite, path, layout, Vocabulary(), messages)
    print(f"source: {messages:,} messages written and indexed in {seconds:.0f} s", flush=True)


async def new_database(pg_url: str) -> str:
    admin = create_async_engine(normalize_database_url(pg_url), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        await conn.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
    await admin.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + DATABASE


def table(runs: list[Run]) -> str:
    lines = ["| step | wall s | CPU s | peak RSS MB | archive MB |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.step} | {r.wall_s} | {r.cpu_s} | {r.peak_rss_mb} | "
              f"{'' if r.archive_mb is None else r.archive_mb} |" for r in runs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m parley_bench.backup", description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/parley-backup-bench"))
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a database of the server to make the benchmark's database on")
    parser.add_argument("--levels", default="1,0,6", help="gzip levels to back up at")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--reuse", action="store_true",
                        help="measure on the source database of an earlier run in --dir")
    args = parser.parse_args()
    source = args.dir / "source"
    if not (args.reuse and (source / "parley.db").exists()):
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        asyncio.run(make_source(source, args.messages, args.chats))
    size = sum(p.stat().st_size for p in source.glob("parley.db*")) / 1e6
    print(f"source database: {size:.1f} MB", flush=True)
    runs = []
    levels = [int(level) for level in args.levels.split(",")]
    for level in levels:
        archive = args.dir / f"level{level}.tar.gz"
        runs.append(timed(f"backup, SQLite, gzip level {level}",
                          ["backup", str(archive), "--level", str(level),
                           "--data-dir", str(source)], archive))
    archive = args.dir / f"level{levels[0]}.tar.gz"
    target = args.dir / "restored"
    shutil.rmtree(target, ignore_errors=True)
    runs.append(timed("restore into SQLite", ["restore", str(archive), "--data-dir",
                                              str(target)]))
    url = asyncio.run(new_database(args.pg_url))
    runs.append(timed("restore into PostgreSQL", ["restore", str(archive), "--database-url",
                                                  url, "--data-dir", str(args.dir / "pg")]))
    again = args.dir / "from-postgresql.tar.gz"
    runs.append(timed(f"backup, PostgreSQL, gzip level {levels[0]}",
                      ["backup", str(again), "--level", str(levels[0]), "--database-url", url,
                       "--data-dir", str(args.dir / "pg")], again))
    print(table(runs))
    if args.out:
        args.out.write_text(json.dumps({"messages": args.messages, "source_mb": round(size, 1),
                                        "runs": [asdict(r) for r in runs]}, indent=2))


if __name__ == "__main__":
    main()
