"""Parley in this process: the real service, a real SQLite store, and fake sockets.

:class:`Parley` builds what ``parley.app.lifespan`` builds (a migrated
:class:`~parley.store.SqlStore` on a SQLite file, the file image store, the
:class:`~parley.broker.MemoryBroker`, a :class:`~parley.hub.Hub`,
:class:`~parley.presence.MemoryPresence`, the message writer, the hashing and
image pools), with no HTTP server and no sockets. A :class:`FakeConn` stands
for one socket: requests go in as raw frames through ``Service.receive`` (the
entry point every WebSocket text frame takes), and everything the service
sends the socket, answers and pushes alike, is recorded decoded as JSON, in
the order the socket would receive it.

Differences from a real server, on purpose:

- limits are lifted (:data:`FAST`) unless a test sets them;
- passwords are hashed with the cheap ``test`` argon2 profile;
- presence deltas are not paced (the hub's window is 0 s, see ``test_hub.py``
  for the pacing), so a test never waits 250 ms for a ``Joined``;
- each database is a copy of one migrated template file, opened with
  ``SqlStore.open`` (which migrates it, as the app does: here a no-op).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from parley import frames
from parley.broker import MemoryBroker
from parley.config import Settings
from parley.context import Context
from parley.frames import Outgoing
from parley.hub import Hub
from parley.images import FileImageStore
from parley.metrics import Metrics
from parley.passwords import Hasher
from parley.peer import Socket
from parley.pools import WorkPool
from parley.presence import MemoryPresence
from parley.service import Service
from parley.store import SqlStore

PASSWORD = "correct horse"

#: no test waits for a limit it does not test (each limit's test sets its own)
FAST: dict[str, Any] = {
    "argon2_profile": "test",
    "rate_limit": 1e6, "rate_burst": 1e6,
    "login_rate": 1e6, "login_burst": 1e6,
    "chat_rate": 1e9, "chat_burst": 1e6,
    "heartbeat": 0.0,
    "sqlite_synchronous": "NORMAL",
    "presence_linger": 0.0,
}

Frame = dict[str, Any]


def payload(frame: bytes) -> bytes:
    """The payload of one unmasked WebSocket text frame (see ``outbox.text_frame``)."""
    assert frame[0] == 0x81, frame[:2]
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return frame[start:]


class FakeConn(Socket):
    """One socket, as the service sees it (the ``parley.peer.Peer`` protocol), recording
    every frame sent to it (decoded JSON, in order) and every close. What it keeps of
    its session and live frames is the real sockets' (:class:`parley.peer.Socket`):
    broadcasts are held back during a choice, and a message already sent in a history
    page is not sent again."""

    def __init__(self, parley: Parley, address: str) -> None:
        super().__init__(address, lambda frame: self._record(payload(frame)))
        self.parley = parley
        #: every frame sent to this socket and not yet taken by :meth:`take`, in order
        self.frames: list[Frame] = []
        #: (code, reason) of each close the service asked for
        self.closed: list[tuple[int, str]] = []
        self.open = True

    # -- the rest of the Peer protocol ---------------------------------------------------------

    def send(self, answer: Outgoing) -> None:
        self._record(payload(frames.frame(answer)))

    def close(self, code: int, reason: bytes) -> None:
        self.closed.append((code, reason.decode()))
        # the socket's reader ends and the server lets go of it, as after a real close
        asyncio.get_running_loop().call_soon(self.parley.disconnect, self)

    # -- for the tests ----------------------------------------------------------------------

    def _record(self, data: bytes) -> None:
        self.frames.append(json.loads(data))

    async def send_raw(self, frame: str | bytes | Frame) -> None:
        """Hand one text frame to the service, as the socket's reader does, and return
        as soon as it does (a text message may still be on its way to the database)."""
        if isinstance(frame, dict):
            frame = json.dumps(frame, ensure_ascii=False)
        await self.parley.service.receive(self, frame)

    async def request(self, frame: str | bytes | Frame) -> list[Frame]:
        """Send one frame, let everything it sets off happen, and return every frame
        this socket got meanwhile (and any it had not taken before)."""
        await self.send_raw(frame)
        await self.parley.settle()
        return self.take()

    async def ask(self, frame: str | bytes | Frame) -> Frame:
        """:meth:`request` for exactly one frame back."""
        frames = await self.request(frame)
        assert len(frames) == 1, frames
        return frames[0]

    def take(self) -> list[Frame]:
        """The frames got so far, forgotten here."""
        frames, self.frames = self.frames, []
        return frames


class Parley:
    """The service and what it is made of, with fake sockets to talk to it."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.conns: list[FakeConn] = []
        self._names = itertools.count(1)

    @classmethod
    @asynccontextmanager
    async def running(cls, data_dir: Path, *, template: Path | None = None,
                      **settings: Any) -> AsyncIterator[Parley]:
        """Build the service as the app's lifespan does, on ``data_dir``; ``settings``
        override :data:`FAST`. With ``template`` (see :func:`migrated_template`) the
        database starts as a copy of it."""
        s = Settings(data_dir=data_dir, **{**FAST, **settings})
        _prepare(data_dir, template)
        store = await SqlStore.open(s.db_url, sqlite_synchronous=s.sqlite_synchronous,
                                    sqlite_busy_ms=s.sqlite_busy_ms)
        broker, presence, hub = MemoryBroker(), MemoryPresence(), Hub(presence_window=0.0)
        metrics = Metrics()
        metrics.count_deliveries(lambda: hub.deliveries)
        image_pool = WorkPool("images", threads=s.image_threads, queue=s.image_queue,
                              budget=s.image_memory)
        service = Service(Context(s, store, FileImageStore(s.image_dir), broker, hub,
                                  Hasher(s.argon2_profile), metrics, presence,
                                  image_pool=image_pool))
        await broker.start(hub.deliver)
        await service.ctx.sanctions.start(store.sanctions)
        await presence.start(hub.presence, service.user_gone)
        service.ctx.writer.start()
        service.ctx.changes.start()
        try:
            yield cls(service)
        finally:
            await service.ctx.writer.close()
            await service.ctx.changes.close()
            await service.drain()
            service.ctx.hashing.close()
            image_pool.close()
            await presence.close()
            await service.ctx.sanctions.close()
            await broker.close()
            await store.close()

    def unique(self, prefix: str = "u") -> str:
        return f"{prefix}{next(self._names)}"

    def connect(self, address: str = "127.0.0.1") -> FakeConn:
        """A new, anonymous socket."""
        conn = FakeConn(self, address)
        self.conns.append(conn)
        self.service.connected_socket(conn)
        return conn

    def disconnect(self, conn: FakeConn) -> None:
        """The socket is gone (closed by either side)."""
        if conn.open:
            conn.open = False
            self.service.disconnected(conn)

    async def user(self, login: str | None = None, *, password: str = PASSWORD,
                   list_changes: bool = False, address: str = "127.0.0.1") -> FakeConn:
        """A new socket with a newly registered user on it (``conn.login``), no frames
        left to take."""
        conn = self.connect(address)
        frame: Frame = {"Type": "account", "Command": "registration",
                        "Login": login or self.unique(), "Password": password}
        if list_changes:
            frame["ListChanges"] = True
        [answer] = await conn.request(frame)
        assert answer["Status"] == "success", answer
        return conn

    async def settle(self) -> None:
        """Let everything under way finish: text messages being stored, presence
        updates, list pushes, held presence deltas."""
        service = self.service
        for _ in range(3):
            for conn in self.conns:
                if conn.pending:
                    await asyncio.gather(*conn.pending, return_exceptions=True)
            await service.ctx.writer.idle()
            await service.drain()
            for _ in range(3):  # timers due now (the hub's presence window is 0 s)
                await asyncio.sleep(0)


def _prepare(data_dir: Path, template: Path | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if template is not None:
        shutil.copyfile(template, data_dir / "parley.db")


def migrated_template(directory: Path) -> Path:
    """A SQLite database migrated to the newest schema by ``SqlStore.open``, to copy."""
    path = directory / "parley.db"

    async def migrate() -> None:
        store = await SqlStore.open(f"sqlite+aiosqlite:///{path}")
        await store.close()

    # (in a thread of its own: the caller may be inside a running event loop)
    thread = threading.Thread(target=asyncio.run, args=(migrate(),))
    thread.start()
    thread.join()
    assert path.is_file()
    return path


def account(command: str, **fields: Any) -> Frame:
    """An ``account`` request (or answer) frame."""
    return {"Type": "account", "Command": command, **fields}


def chat(command: str, **fields: Any) -> Frame:
    """A ``chat`` request (or answer) frame."""
    return {"Type": "chat", "Command": command, **fields}


class Clock:
    """A clock moved by hand, for the throttles that take theirs from a module's ``clock``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
