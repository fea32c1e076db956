"""Fixtures: a real ``parley serve`` on a real port, and WebSocket clients to talk to it."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from parley.client import Client

_names = itertools.count(1)


def unique(prefix: str = "u") -> str:
    """A name no other test of this run uses."""
    return f"{prefix}{os.getpid() % 1000}x{next(_names)}"


class ServerProcess:
    """``parley serve`` in a child process, on a free port, with its own data dir."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, "PARLEY_ARGON2_PROFILE": "test", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.log = data_dir / "server.log"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "parley", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                         text=True, env=self.env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("parley: listening on "):
            self.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.log.read_text()}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_pipe()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


#: the shared server lets tests send as fast as they like (the limit has its own test)
FAST = ("--rate-limit", "100000", "--rate-burst", "100000")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server shared by the tests that use their own chat names."""
    proc = ServerProcess(tmp_path_factory.mktemp("shared"), *FAST).start()
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own, for tests that need an empty database."""
    proc = ServerProcess(tmp_path / "data").start()
    yield proc
    if proc.alive():
        proc.stop()


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
