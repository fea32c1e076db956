"""Fixtures: a real ``parley serve`` on a real port, and WebSocket clients to talk to it."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from inprocess import Parley, migrated_template
from parley import testing
from parley.client import Client
from parley.config import normalize_database_url

PG_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_names = itertools.count(1)


def unique(prefix: str = "u") -> str:
    """A name no other test of this run uses."""
    return f"{prefix}{os.getpid() % 1000}x{next(_names)}"


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def unavailable(what: str) -> None:
    """A required service is missing: a failure under CI, a skip elsewhere."""
    message = f"{what} is not reachable; start it with scripts/services"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _run(coro: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))  # type: ignore[arg-type]
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class Postgres:
    """Makes a new, empty database on the test server for each server that asks."""

    def __init__(self, url: str) -> None:
        self.url = normalize_database_url(url)
        self.made: list[str] = []

    async def _admin(self, statement: str) -> None:
        engine = create_async_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    def reachable(self) -> bool:
        try:
            _run(self._admin("SELECT 1"))
        except Exception:
            return False
        return True

    def new_database(self) -> str:
        name = f"parley_t{os.getpid()}_{next(_names)}"
        _run(self._admin(f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        for name in self.made:
            _run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.clear()


class Backend:
    """Where a test server keeps its data: ``sqlite`` (a file) or ``postgresql``."""

    def __init__(self, name: str, postgres: Postgres | None = None) -> None:
        self.name = name
        self.postgres = postgres

    def args(self) -> tuple[str, ...]:
        if self.postgres is None:
            return ()
        return ("--database-url", self.postgres.new_database())


class ServerProcess(testing.ServerProcess):
    """``parley serve`` on a free port, with its own data dir, on a test backend."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None,
                 backend: Backend | None = None) -> None:
        self.backend = backend or Backend("sqlite")
        args = self.backend.args() + args
        super().__init__(data_dir, *args, env=env)
        self.data_dir: Path = data_dir
        self.db_url = (
            args[args.index("--database-url") + 1] if "--database-url" in args
            else f"sqlite:///{data_dir / 'parley.db'}"
        )

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run a query on this server's database (SQLite file or PostgreSQL)."""
        engine = create_async_engine(normalize_database_url(self.db_url))
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sa.text(sql), params)
                return [tuple(row) for row in result]
        finally:
            await engine.dispose()

    async def texts(self, chat: str) -> list[str | None]:
        """The stored texts of a chat, in id order."""
        rows = await self.rows(
            "SELECT m.text FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.name = :chat ORDER BY m.id", chat=chat)
        return [row[0] for row in rows]

    async def images(self, chat: str | None = None) -> list[str]:
        """The image names stored for a chat (every chat: None), sorted; and, when they
        are kept as files, the same names must be on disk and nothing else."""
        rows = await self.rows(
            "SELECT c.id, i.name FROM images i JOIN chats c ON c.id = i.chat_id"
            + ("" if chat is None else " WHERE c.name = :chat"), chat=chat)
        names = sorted(name for _, name in rows)
        if self.backend.postgres is None:
            files = sorted(
                f"{p.parent.name}/{p.name}" for p in (self.data_dir / "images").glob("*/*")
                if chat is None or p.parent.name in {str(cid) for cid, _ in rows})
            assert files == sorted(f"{cid}/{name}" for cid, name in rows)
        return names


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres(PG_URL)
    yield pg
    pg.drop_all()


async def _redis_ok() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def services(postgres: Postgres) -> Postgres:
    """PostgreSQL and Redis, for several processes: both reachable, or the test is skipped
    (failed when the CI variable is set)."""
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    if not _run(_redis_ok()):
        unavailable(f"Redis at {REDIS_URL}")
    return postgres


def cluster(root: Path, services: Postgres, name: str, count: int,
            *args: str) -> Iterator[list[ServerProcess]]:
    """``count`` ``parley serve`` processes sharing one new PostgreSQL database and one
    Redis prefix of their own (``name`` in it), started under ``root``; a fixture yields
    from it, and they are stopped when it ends."""
    db_url, prefix = services.new_database(), f"t{os.getpid()}{name}{unique()}"
    procs: list[ServerProcess] = []
    try:
        for i in range(count):
            procs.append(ServerProcess(
                root / f"node{i}", "--database-url", db_url, "--redis-url", REDIS_URL,
                "--redis-prefix", prefix, *FAST, *args).start())
        yield procs
    finally:
        for proc in procs:
            if proc.alive():
                proc.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, postgres: Postgres) -> Backend:
    """Every test that uses a server runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return Backend("sqlite")
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    return Backend("postgresql", postgres)


#: the shared server lets tests send, log in, create and delete as fast as they like
#: (each limit has its own test), and a closed socket's user leaves at once (the
#: linger has its tests in test_storm.py)
FAST = ("--rate-limit", "100000", "--rate-burst", "100000",
        "--login-rate", "100000", "--login-burst", "100000",
        "--chat-rate", "10000000", "--chat-burst", "100000",
        "--presence-linger", "0")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ServerProcess]:
    """One server shared by the tests that use their own chat names."""
    proc = ServerProcess(tmp_path_factory.mktemp("shared"), *FAST, backend=backend).start()
    yield proc
    assert proc.stop() == 0


MakeServer = Callable[..., ServerProcess]


@pytest.fixture
def make_server(tmp_path: Path, backend: Backend) -> Iterator[MakeServer]:
    """``make_server(*flags, env=...)``: a started server of this test's own, on the
    test's backend; stopped after the test."""
    made: list[ServerProcess] = []

    def _make(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        proc = ServerProcess(tmp_path / f"data{len(made)}", *args, env=env, backend=backend)
        made.append(proc)
        return proc.start()

    yield _make
    for proc in made:
        if proc.alive():
            proc.stop()


@pytest.fixture
def fresh_server(make_server: MakeServer) -> ServerProcess:
    """A server of this test's own, for tests that need an empty database."""
    return make_server()


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(server: ServerProcess) -> AsyncIterator[Connect]:
    """``await connect()``: a client of the shared server (or of ``url``), closed after the test."""
    clients: list[Client] = []

    async def _connect(url: str | None = None) -> Client:
        client = await Client.connect(url or server.ws)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


PASSWORD = "correct horse"


async def user(connect: Connect, url: str | None = None, login: str | None = None) -> Client:
    """A connected, registered client; its login in ``client.user``."""
    client = await connect(url)
    answer = await client.register(login or unique(), PASSWORD)
    assert answer["Status"] == "success", answer
    return client


async def room(
    connect: Connect, members: int = 2, *, password: str | None = None, url: str | None = None
) -> tuple[str, list[Client]]:
    """A new chat and ``members`` users in it (the first its owner), every push so far read."""
    owner = await user(connect, url)
    name = unique("room")
    assert await owner.create(name, password) == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": name}
    assert (await owner.recv())["Command"] == "list"
    assert await owner.recv() == joined(name, owner.user)
    clients = [owner]
    for _ in range(members - 1):
        newcomer = await user(connect, url)
        answer = await newcomer.choose(name, password)
        assert answer["Command"] == "choice", answer
        clients.append(newcomer)
        for member in clients:
            assert await member.recv() == joined(name, newcomer.user)
    return name, clients


def joined(chat: str, login: str | None) -> dict[str, str | None]:
    return {"Type": "chat", "Command": "connected", "Chat": chat, "Joined": login}


def left(chat: str, login: str | None) -> dict[str, str | None]:
    return {"Type": "chat", "Command": "connected", "Chat": chat, "Left": login}


# -- the in-process service (tests/inprocess.py) ----------------------------------------


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database that each in-process service starts from (a copy)."""
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
async def parley(tmp_path: Path, template: Path) -> AsyncIterator[Parley]:
    """The real service in this process, limits lifted, with fake sockets."""
    async with Parley.running(tmp_path / "data", template=template) as p:
        yield p


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request: pytest.FixtureRequest, tmp_path: Path, template: Path,
                 postgres: Postgres) -> AsyncIterator[Parley]:
    """The real service in this process, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        async with Parley.running(tmp_path / "data", template=template) as p:
            yield p
        return
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    async with Parley.running(tmp_path / "data", database_url=postgres.new_database()) as p:
        yield p
