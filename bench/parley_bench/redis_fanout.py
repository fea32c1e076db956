"""What each process of ``parley serve --workers 2`` receives from Redis, with the
chats split between the processes.

Two rooms; every socket of room A is on one worker, every socket of room B on the
other (the kernel spreads connections over the workers with ``SO_REUSEPORT``:
each connection's worker is found with ``ss``, by its port, and the connections
are put in the room of their worker). One sender per room, on the room's worker,
sends ``--messages`` messages, each one once the previous one came back. Per
worker, from before the first message to after the last one reached every socket:

- ``events`` and ``bytes``: the ``parley_broker_received_*`` counters, read from
  the worker's own ``/metrics`` (scraping until the kernel gave each worker a
  scrape, each answer's worker found with ``ss``);
- ``kernel bytes``: what the kernel counted in on all of the worker's
  connections to Redis (``ss -ti``, ``bytes_received``), which needs no counter
  of Parley's: the same figure for any version.

From ``bench/``: ``../.venv/bin/python -m parley_bench.redis_fanout`` (``--help``).
``--source DIR`` runs another checkout's ``src`` (e.g. an export of an older
commit) with this interpreter, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from parley.broker import CHAT_KINDS
from parley.client import Client

PASSWORD = "correct horse battery"
FAST = ("--rate-limit", "100000", "--rate-burst", "100000", "--login-rate", "100000",
        "--login-burst", "100000", "--chat-rate", "10000000", "--chat-burst", "100000")
#: no socket is read while the others register (a hash each): on a busy machine that
#: may take longer than the default heartbeat, which would drop them as silent
QUIET = ("--heartbeat", "600")
_PID = re.compile(r"pid=(\d+)")


@dataclass
class Reading:
    events: dict[str, float]
    size: float
    kernel: int


def _sockets() -> list[tuple[str, str, int | None, int]]:
    """Established TCP sockets: (local, peer, owning pid, bytes received)."""
    out = subprocess.run(["ss", "-tinpH", "state", "established"], check=True,
                         capture_output=True, text=True).stdout
    found: list[tuple[str, str, int | None, int]] = []
    current: tuple[str, str, int | None] | None = None
    for line in out.splitlines():
        if not line.startswith(("\t", " ")):
            fields = line.split()
            pid = _PID.search(line)
            current = (fields[2], fields[3], int(pid.group(1)) if pid else None)
        elif current is not None:
            got = re.search(r"bytes_received:(\d+)", line)
            found.append((*current, int(got.group(1)) if got else 0))
            current = None
    return found


def _owner(port: int, client_port: int) -> int:
    """The pid of the server process holding the connection from ``client_port``."""
    for local, peer, pid, _ in _sockets():
        if local.endswith(f":{port}") and peer.endswith(f":{client_port}") and pid:
            return pid
    raise RuntimeError(f"no process holds the connection from port {client_port}")


def _redis_bytes(pid: int, redis_port: int) -> int:
    return sum(received for _, peer, owner, received in _sockets()
               if owner == pid and peer.endswith(f":{redis_port}"))


async def _scrape(port: int) -> tuple[int, dict[str, float]]:
    """``GET /metrics`` once, on a new connection: which worker answered, and what."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        pid = _owner(port, int(writer.get_extra_info("sockname")[1]))
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        body = (await reader.readexactly(length)).decode()
    finally:
        writer.close()
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return pid, values


async def _readings(port: int, redis_port: int, workers: int) -> dict[int, Reading]:
    """Every worker's counters (scraping until the kernel gave each one a scrape)."""
    found: dict[int, Reading] = {}
    for _ in range(200):
        pid, values = await _scrape(port)
        if pid not in found:
            kinds = {name[name.index('"') + 1:-2]: value for name, value in values.items()
                     if name.startswith("parley_broker_received_events_total{")}
            found[pid] = Reading(
                kinds,
                values.get("parley_broker_received_bytes_total", float("nan")),
                _redis_bytes(pid, redis_port))
        if len(found) == workers:
            return found
    raise RuntimeError("could not reach every worker")


async def _drain(client: Client, last: int) -> None:
    """Read everything until message ``last`` arrived (a socket must be read)."""
    while True:
        frame = await client.recv(60)
        if frame.get("Command") == "message" and frame.get("Message", {}).get("id") == last:
            return


async def _send(client: Client, count: int) -> None:
    for k in range(1, count + 1):
        await client.say(f"message {k} " + "x" * 40)
        await client.until(lambda f, k=k: f.get("Command") == "message"
                           and f.get("Message", {}).get("id") == k, 60)


async def measure(port: int, sockets: int, messages: int, redis_port: int,
                  ) -> dict[int, tuple[Reading, Reading]]:
    url = f"ws://127.0.0.1:{port}/ws"
    pids = sorted(await _readings(port, redis_port, 2))
    by_worker: dict[int, list[Client]] = {pid: [] for pid in pids}
    extra: list[Client] = []
    tag = uuid.uuid4().hex[:6]
    n = 0
    while min(len(v) for v in by_worker.values()) < sockets + 1:
        client = await Client.connect(url)
        n += 1
        pid = _owner(port, int(client.ws.get_extra_info("sockname")[1]))
        if len(by_worker[pid]) > sockets:
            extra.append(client)
            continue
        answer = await client.register(f"f{tag}{n}", PASSWORD)
        assert answer["Status"] == "success", answer
        by_worker[pid].append(client)
    for client in extra:
        await client.close()
    rooms = {pid: f"room{tag}{i}" for i, pid in enumerate(pids)}
    for pid, clients in by_worker.items():
        owner = clients[0]
        await owner.send({"Type": "chat", "Command": "create", "Chat": rooms[pid]})
        await owner.until(lambda f: f.get("Command") == "create")
        for client in clients[1:]:
            await client.send({"Type": "chat", "Command": "choice", "Chat": rooms[pid]})
            await client.until(lambda f: f.get("Command") == "choice")
    await asyncio.sleep(2)  # presence and list pushes settle
    before = await _readings(port, redis_port, 2)
    await asyncio.gather(
        *(_send(clients[0], messages) for clients in by_worker.values()),
        *(_drain(c, messages) for clients in by_worker.values() for c in clients[1:]))
    await asyncio.sleep(1)
    after = await _readings(port, redis_port, 2)
    for clients in by_worker.values():
        for client in clients:
            await client.close()
    return {pid: (before[pid], after[pid]) for pid in pids}


async def _database(base: str, name: str, create: bool) -> None:
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"),
                                 isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            verb = f'CREATE DATABASE "{name}"' if create else \
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            await conn.execute(sa.text(verb))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="per room")
    parser.add_argument("--sockets", type=int, default=20, help="receivers per room")
    parser.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--source", type=Path, help="run the parley package of DIR/src")
    args = parser.parse_args()
    name = f"fanout_{os.getpid()}"
    asyncio.run(_database(args.pg_url, name, True))
    data = Path(tempfile.mkdtemp(prefix="fanout"))
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve() / "src")
    db_url = args.pg_url.rsplit("/", 1)[0] + "/" + name
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--workers", "2", "--port", str(port),
         "--data-dir", str(data), "--database-url", db_url, "--redis-url", args.redis_url,
         "--redis-prefix", name, *FAST, *QUIET], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("parley: listening on"), line
        redis_port = int(args.redis_url.rsplit(":", 1)[1].split("/")[0])
        started = time.monotonic()
        result = asyncio.run(measure(port, args.sockets, args.messages, redis_port))
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)
        asyncio.run(_database(args.pg_url, name, False))
    print(f"{args.messages} messages into each of 2 rooms, {args.sockets} receivers + 1 "
          f"sender per room, each room on its own worker ({took:.0f} s)")
    print("| worker | events of the chat kinds | other events (activity, ...) | "
          "events in all | bytes (counter) | bytes in from Redis (kernel) |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, (before, after) in enumerate(result.values()):
        got = {kind: count - before.events.get(kind, 0) for kind, count in after.events.items()}
        chat = sum(count for kind, count in got.items() if kind in CHAT_KINDS)
        print(f"| {i + 1} | {chat:,.0f} | {sum(got.values()) - chat:,.0f} | "
              f"{sum(got.values()):,.0f} | {after.size - before.size:,.0f} | "
              f"{after.kernel - before.kernel:,} |")
    print("events by kind:", [
        {k: int(v - b.events.get(k, 0)) for k, v in sorted(a.events.items())}
        for b, a in result.values()])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
