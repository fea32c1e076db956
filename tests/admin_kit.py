"""Running ``parley admin`` against a test server's database: as a real subprocess
(``cli``), or in this process (``inproc``, the same parser and functions, faster)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import ServerProcess
from parley import admin
from parley.client import Client
from parley.config import normalize_database_url, settings_from

PARLEY = Path(sys.executable).parent / "parley"


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert (self.code, self.err) == (0, ""), self
        return json.loads(self.out)


async def execute(server: ServerProcess, sql: str, **params: Any) -> None:
    """Change the server's database (the tests' own setup: old rows, backdated times)."""
    engine = create_async_engine(normalize_database_url(server.db_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(sql), params)
    finally:
        await engine.dispose()


def db_args(server: ServerProcess) -> list[str]:
    """The flags that name the server's database."""
    if server.backend.postgres is None:
        return ["--data-dir", str(server.data_dir)]
    return ["--database-url", server.db_url]


def cli(*args: str, env: dict[str, str] | None = None) -> Done:
    """``parley admin ARGS`` as a subprocess (``env``: variables over this process's)."""
    done = subprocess.run([str(PARLEY), "admin", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PARLEY_ARGON2_PROFILE": "test",
                                            **(env or {})})
    return Done(done.returncode, done.stdout, done.stderr)


def _inproc(args: tuple[str, ...]) -> Done:
    parser = argparse.ArgumentParser(prog="parley")
    admin.add_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["admin", "--argon2-profile", "test", *args])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = admin.run(parsed, settings_from(parsed))
    return Done(code, out.getvalue(), err.getvalue())


async def inproc(*args: str) -> Done:
    """``parley admin ARGS`` in this process (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(_inproc, args)


async def run_cli(*args: str) -> Done:
    return await asyncio.to_thread(cli, *args)


def when(ms: int | None) -> str:
    """A time as the listing shows it."""
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def closed_within(client: Client, seconds: float) -> tuple[int, str, float]:
    """The close code and reason the server closed ``client`` with (skipping the frames
    before it), and how long it took; fails after ``seconds``."""
    start = time.monotonic()
    async with asyncio.timeout(seconds):
        while True:
            msg = await client.ws.receive()
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return msg.data, msg.extra, time.monotonic() - start
            assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
