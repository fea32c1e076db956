"""What the backup tests share: running ``parley backup``/``restore`` as the operator
does, the settings of a target, filling a server through the wire, and reading back
every row and every image byte of a database."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from images_data import b64, image_bytes
from parley import schema
from parley.client import Client, Frame
from parley.config import normalize_database_url

PASSWORD = "correct horse"
CHAT_PASSWORD = "closed door"


@dataclass(frozen=True)
class Place:
    """Where a database lives: a data dir, and a PostgreSQL URL or None (SQLite)."""

    data_dir: Path
    database_url: str | None = None

    def args(self) -> list[str]:
        out = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            out += ["--database-url", self.database_url]
        return out

    @property
    def url(self) -> str:
        return normalize_database_url(
            self.database_url or f"sqlite:///{self.data_dir / 'parley.db'}")

    @property
    def sqlite(self) -> bool:
        return self.database_url is None


def parley(*args: str) -> subprocess.CompletedProcess[str]:
    """``parley ARGS`` in a child process, as an operator runs it."""
    env = {**os.environ, "PARLEY_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "parley", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one-line error of a failed command, which must contain ``words``."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("parley: "), lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table Parley keeps (not ``control``), in primary key order;
    ``images`` without its bytes (see :func:`image_files`)."""
    engine = create_async_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for table in schema.metadata.sorted_tables:
                if table.name == "control":
                    continue
                columns = [c for c in table.columns if c.name != "data"]
                query = sa.select(*columns).order_by(*table.primary_key.columns)
                out[table.name] = [tuple(row) for row in await conn.execute(query)]
            out["alembic_version"] = [
                tuple(r) for r in await conn.execute(sa.text("SELECT * FROM alembic_version"))]
    finally:
        await engine.dispose()
    return out


async def image_files(place: Place) -> dict[tuple[int, str], bytes]:
    """Every image's bytes, by (chat id, name), wherever the database keeps them; and
    no file in the data dir but those of the rows without bytes."""
    engine = create_async_engine(place.url)
    try:
        async with engine.connect() as conn:
            rows = list(await conn.execute(sa.select(
                schema.images.c.chat_id, schema.images.c.name, schema.images.c.data)))
    finally:
        await engine.dispose()
    out = {}
    as_files = set()
    for chat_id, name, data in rows:
        if data is None:
            data = (place.data_dir / "images" / str(chat_id) / name).read_bytes()
            as_files.add((chat_id, name))
        out[(chat_id, name)] = bytes(data)
    files = {(int(p.parent.name), p.name) for p in (place.data_dir / "images").glob("*/*")}
    assert files == as_files
    return out


async def tables(url: str) -> list[str]:
    """The tables of a database (none: nothing was ever written to it)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return sorted(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def answer(client: Client, request: Frame, command: str | None = None) -> Frame:
    """Send a request; the first frame of its command that follows (pushes skipped)."""
    await client.send(request)
    want = command or request["Command"]
    return await client.until(lambda f: f.get("Command") == want and "Chats" not in f)


async def said(client: Client, text: str | None = None, image: bytes | None = None,
               reply: int | None = None) -> int:
    """Send a message; its id, once the server acknowledged it (its broadcast came)."""
    request: Frame = {"Type": "chat", "Command": "message"}
    if text is not None:
        request["Text"] = text
    if image is not None:
        request["Image"] = b64(image)
    if reply is not None:
        request["Reply"] = reply
    await client.send(request)
    frame = await client.until(lambda f: f.get("Command") == "message"
                               and f["Message"]["user"] == client.user
                               and f["Message"].get("text") == text)
    return int(frame["Message"]["id"])


@dataclass
class Filled:
    """What :func:`fill` made: each user's token, the chats, the images."""

    tokens: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


async def fill(ws: str) -> Filled:
    """Users (with tokens), an open chat, a closed chat, a direct chat; memberships and
    read pointers; messages edited, removed, replied to, reacted to, mentioning, with
    images (one of them removed with its message)."""
    made = Filled()
    clients = {}
    for login in ("alice", "bob", "carl"):
        client = await Client.connect(ws)
        assert (await client.register(login, PASSWORD))["Status"] == "success"
        made.tokens[login] = client.token or ""
        clients[login] = client
    alice, bob, carl = clients["alice"], clients["bob"], clients["carl"]
    try:
        assert (await answer(alice, {"Type": "chat", "Command": "create", "Chat": "open"}))[
            "Status"] == "success"
        assert (await answer(bob, {"Type": "chat", "Command": "choice", "Chat": "open"}))[
            "Command"] == "choice"
        first = await said(alice, "hello @bob, welcome")
        reply = await said(bob, "thanks alice", reply=first)
        made.images["kept"] = image_bytes(color="blue")
        made.images["dropped"] = image_bytes(color="green")
        await said(alice, None, image=made.images["kept"])
        dropped = await said(bob, None, image=made.images["dropped"])
        edit = {"Type": "chat", "Command": "edit", "Id": first, "Text": "hello @bob, edited"}
        assert (await answer(alice, edit))["Message"]["edited"]
        for client, emoji in ((alice, "👍"), (bob, "👍"), (bob, "🎉")):
            react = {"Type": "chat", "Command": "react", "Id": reply, "Emoji": emoji}
            assert (await answer(client, react))["Id"] == reply
        assert (await answer(bob, {"Type": "chat", "Command": "remove", "Id": dropped}))[
            "Id"] == dropped
        assert (await answer(bob, {"Type": "chat", "Command": "read", "Chat": "open",
                                   "Id": reply}))["Command"] == "read"
        create = {"Type": "chat", "Command": "create", "Chat": "closed",
                  "Password": CHAT_PASSWORD}
        assert (await answer(carl, create))["Status"] == "success"
        await said(carl, "secret plans")
        direct = {"Type": "chat", "Command": "direct", "With": ["alice"]}
        assert (await answer(bob, direct))["Status"] == "success"
        await said(bob, "just between us, @alice")
    finally:
        for client in clients.values():
            await client.close()
    return made
