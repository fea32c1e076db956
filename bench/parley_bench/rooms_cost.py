"""`python -m parley_bench.rooms_cost`: the CPU of the many-rooms path, in this process.

The real service (the lean engine's ``LeanSocket.data_received``, ``Service.receive``,
rules, the message writer on a SQLite file, the broker, the hub, activity pushes, the
real :class:`~parley.connection.Conn`, :class:`~parley.outbox.Outbox` and
:class:`~parley.outbox.Flusher`) with sockets whose transport only counts what it is
given: no network, no generator, so the number moves little on a busy machine.
``--rooms`` rooms of ``--size`` sockets; message *k* goes to room *k* mod rooms, sent by
its members in turn (the many-rooms workload's shape), at most ``--window`` messages in
flight per sender, ``--burst`` messages handed over per event-loop turn. Sockets are
spread over ``--users`` users as in the benchmark (socket *i* logs in as user *i* mod
users): with fewer users than sockets, each user's other sockets are in other rooms, so
every message also owes them ``activity`` pushes (see :mod:`parley.activity`), whose
windows run on a clock of ``--rate`` messages a second (the offered rate), not of this
loop's own, faster pace.

Printed: process CPU time (event loop and SQLite writer threads) per 1,000 deliveries
of the message frames, the message frames and activity frames written per message, and
with ``--profile`` the cProfile of the event loop's thread (the writer thread's SQLite
work is not in it), sorted by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from parley import activity
from parley.broker import MemoryBroker
from parley.config import Settings
from parley.connection import Conn
from parley.context import Context
from parley.hub import Hub
from parley.images import FileImageStore
from parley.metrics import Metrics
from parley.outbox import Flusher, Outbox
from parley.passwords import Hasher
from parley.pools import WorkPool
from parley.presence import MemoryPresence
from parley.service import Service
from parley.store import SqlStore
from parley.wsengine import LeanSocket

#: the benchmark's server settings that matter here (limits lifted)
SETTINGS: dict[str, Any] = {
    "argon2_profile": "test", "rate_limit": 1e6, "rate_burst": 1e6, "login_rate": 1e6,
    "login_burst": 1e6, "chat_rate": 1e9, "chat_burst": 1e6, "heartbeat": 0.0,
    "max_chats_per_user": 1_000_000, "max_connections_per_ip": 0,
}


class CountingTransport:
    """A transport that takes everything at once and counts the frames it was given."""

    def __init__(self) -> None:
        self.writes = 0
        self.messages = 0
        self.activity = 0
        self.frames: list[bytes] = []
        self.keep = False

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.messages += data.count(b'"Command":"message"')
        self.activity += data.count(b'"Command":"activity"')
        if self.keep:
            self.frames.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Closer:
    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


def _frames(data: bytes) -> list[dict[str, Any]]:
    """The JSON of each unmasked text frame in ``data``."""
    found, at = [], 0
    while at < len(data):
        n, at = data[at + 1] & 0x7F, at + 2
        if n == 126:
            n, at = int.from_bytes(data[at:at + 2], "big"), at + 2
        elif n == 127:
            n, at = int.from_bytes(data[at:at + 8], "big"), at + 8
        found.append(json.loads(data[at:at + n]))
        at += n
    return found


async def _ask(service: Service, conn: Conn, transport: CountingTransport,
               request: dict[str, Any]) -> dict[str, Any]:
    """Send one request and return its answer (the last frame written since)."""
    transport.keep = True
    transport.frames.clear()
    await service.receive(conn, json.dumps(request))
    for _ in range(2000):
        await asyncio.sleep(0.001)
        conn.outbox.flush()
        for answer in _frames(b"".join(transport.frames)):
            if answer.get("Command") == request["Command"] and (
                    "Status" in answer or "Chat" in answer):
                transport.keep = False
                return answer
    raise RuntimeError(f"no answer to {request}")


async def _run(data_dir: Path, *, rooms: int, size: int, users: int, messages: int,
               window: int, burst: int, rate: float,
               profile: cProfile.Profile | None) -> dict[str, float]:
    s = Settings(data_dir=data_dir, **SETTINGS)
    store = await SqlStore.open(s.db_url, sqlite_synchronous=s.sqlite_synchronous)
    broker, presence, hub = MemoryBroker(), MemoryPresence(), Hub()
    image_pool = WorkPool("images", threads=1, queue=1, budget=s.image_memory)
    service = Service(Context(s, store, FileImageStore(s.image_dir), broker, hub,
                              Hasher(s.argon2_profile), Metrics(), presence,
                              image_pool=image_pool))
    await broker.start(hub.deliver)
    await service.ctx.sanctions.start(store.sanctions)
    await presence.start(hub.presence, service.user_gone)
    service.ctx.writer.start()
    service.ctx.changes.start()
    flusher = Flusher(asyncio.get_running_loop())
    try:
        tokens: list[str] = []
        for u in range(users):
            t = CountingTransport()
            conn = Conn(_Closer(), Outbox(t, flusher, limit=1 << 30, on_overflow=lambda: None))  # type: ignore[arg-type]
            service.connected_socket(conn)
            answer = await _ask(service, conn, t, {"Type": "account", "Command": "registration",
                                                   "Login": f"user{u}", "Password": "pass word 1"})
            tokens.append(answer["Token"])
            # the benchmark's rooms are created by users 0, 1, ..., 50 rooms each
            for r in range(u * 50, min(rooms, u * 50 + 50) if u < users - 1 else rooms):
                await _ask(service, conn, t, {"Type": "chat", "Command": "create",
                                              "Chat": f"room{r}"})
            service.disconnected(conn)
        conns: list[Conn] = []
        transports: list[CountingTransport] = []
        leans: list[LeanSocket] = []
        for i in range(rooms * size):
            t = CountingTransport()
            conn = Conn(_Closer(), Outbox(t, flusher, limit=1 << 30, on_overflow=lambda: None))  # type: ignore[arg-type]
            service.connected_socket(conn)
            await _ask(service, conn, t, {"Type": "account", "Command": "login",
                                          "Token": tokens[i % users]})
            await _ask(service, conn, t, {"Type": "chat", "Command": "choice",
                                          "Chat": f"room{i // size}"})
            conns.append(conn)
            transports.append(t)
            lean = LeanSocket(t, service, "127.0.0.1", None, s.max_frame)  # type: ignore[arg-type]
            lean.conn = conn
            leans.append(lean)
        await service.drain()
        await asyncio.sleep(0.3)  # presence deltas and list pushes of the setup
        text = b'{"Type":"chat","Command":"message","Text":"hello there, how is it going today"}'
        # one masked client frame (a zero mask: the payload as it is)
        data = bytes((0x81, 0x80 | len(text))) + b"\0\0\0\0" + text

        # activity windows on a clock of the offered rate, not of this (faster) loop
        now, next_flush = [0.0], [0.1]
        activity.clock = lambda: now[0]

        def sender(k: int) -> int:
            return (k % rooms) * size + (k // rooms) % size

        async def send(first: int, count: int) -> None:
            for k in range(first, first + count):
                index = sender(k)
                conn = conns[index]
                while len(conn.pending) >= window:
                    await asyncio.wait(conn.pending[:1])
                    await asyncio.sleep(0)  # (its done callback leaves the list)
                now[0] = k / rate
                if now[0] >= next_flush[0]:
                    next_flush[0] += 0.1
                    service.activity.flush()
                leans[index].data_received(data)  # the lean engine's reading, as from a socket
                if k % burst == 0:
                    await asyncio.sleep(0)
            while any(lean._worker is not None for lean in leans):  # noqa: ASYNC110
                await asyncio.sleep(0)
            for conn in conns:
                if conn.pending:
                    await asyncio.gather(*conn.pending)
            await asyncio.sleep(0)

        await send(0, rooms * size)  # warm-up: every room's members read, windows open
        for t in transports:
            t.messages = t.activity = t.writes = 0
        gc.collect()
        started = time.process_time()
        if profile is not None:
            profile.enable()
        await send(rooms * size, messages)
        if profile is not None:
            profile.disable()
        spent = time.process_time() - started
        delivered = sum(t.messages for t in transports)
        return {
            "cpu_ms_per_1000": spent * 1e6 / max(1, delivered),
            "cpu_us_per_message": spent * 1e6 / messages,
            "deliveries_per_message": delivered / messages,
            "activity_per_message": sum(t.activity for t in transports) / messages,
            "writes_per_message": sum(t.writes for t in transports) / messages,
        }
    finally:
        await service.ctx.writer.close()
        await service.ctx.changes.close()
        service.activity.close()
        await service.drain()
        service.ctx.hashing.close()
        image_pool.close()
        await presence.close()
        await service.ctx.sanctions.close()
        await broker.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m parley_bench.rooms_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--users", type=int, default=100,
                        help="users the sockets are spread over (the benchmark's: 100)")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=2,
                        help="messages in flight per sending socket")
    parser.add_argument("--burst", type=int, default=10,
                        help="messages handed over per event-loop turn")
    parser.add_argument("--rate", type=float, default=1000,
                        help="messages/s of the clock that activity windows run on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    for repeat in range(args.repeats):
        profile = cProfile.Profile() if args.profile and repeat == 0 else None
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "data").mkdir()
            result = asyncio.run(_run(Path(tmp) / "data", rooms=args.rooms, size=args.size,
                                      users=args.users, messages=args.messages,
                                      window=args.window,
                                      burst=args.burst, rate=args.rate,
                                      profile=profile))
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
        print(f"CPU {result['cpu_ms_per_1000']:6.1f} ms / 1,000 deliveries "
              f"({result['cpu_us_per_message']:6.1f} µs / message), per message: "
              f"{result['deliveries_per_message']:.2f} deliveries, "
              f"{result['activity_per_message']:.2f} activity frames, "
              f"{result['writes_per_message']:.2f} writes", flush=True)


if __name__ == "__main__":
    main()
