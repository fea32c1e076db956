#!/usr/bin/env python3
"""Soak test: a real ``parley serve`` under mixed load for a while, then two checks.

    python scripts/soak.py --minutes 10      # the documented soak (docs/soak.md)
    python scripts/soak.py --minutes 1       # a quick try

It starts its own server (SQLite in a temporary directory unless ``--database-url``
is given; fast password hashing), then runs, all at once:

- chatters: users that register, log in (by password or token), move between rooms
  (one of them closed), send text and image messages (each waiting for its own copy
  of the broadcast, the acknowledgement), page back with ``earlier``, and now and
  then drop the connection and come back, resuming with ``choice`` + ``After``;
- a bulk sender of long texts into one room, and slow readers in that room that read
  one frame every two seconds: they fall behind, are closed with 4008, reconnect and
  resume;
- a sampler of the server's RSS (from /proc) every few seconds.

At the end it stops the load, fetches every room's whole history through the
protocol, stops the server with SIGTERM, and checks:

- nothing was lost: every message any client received is stored, with the same
  user and text; every acknowledged message is stored; ids are 1, 2, 3, ... in every
  room; and every client saw each room without a gap from where it entered (live
  frames plus ``After`` on return);
- memory stayed flat: the mean RSS of the last third of the run is within 20% of
  the middle third's (the first third is warm-up);
- the server exited with 0.

It prints a summary table and exits 1 when a check fails. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from parley.client import Client, Closed
from parley.testing import ServerNotStarted, ServerProcess

PASSWORD = "correct horse"
#: the most messages one ``choice`` with ``After`` answers with (docs/protocol.md)
AFTER_PAGE = 100
GONE = (Closed, ConnectionError, aiohttp.ClientError, TimeoutError)


# -- the server ------------------------------------------------------------------------

class Server(ServerProcess):
    """The server under test, with its memory and its metrics."""

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    async def metrics(self) -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(self.http + "/metrics") as r:
            text = await r.text()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split()[:2]
                values[name] = float(value)
        return values


# -- bookkeeping -------------------------------------------------------------------------

@dataclass
class Tally:
    #: (room, id) -> (user, text, image) of every message any client received
    received: dict[tuple[str, int], tuple[str, str | None, str | None]] = field(
        default_factory=dict)
    #: (room, user, text) of every message its sender got back
    acked: set[tuple[str, str, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, float]] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.counts["problems"] += 1
        if len(self.problems) < 20:
            self.problems.append(text)

    def saw(self, room: str, message: dict[str, Any]) -> None:
        key = (room, message["id"])
        value = (message["user"], message.get("text"), message.get("image"))
        self.counts["messages received"] += 1
        known = self.received.setdefault(key, value)
        if known != value:
            self.problem(f"{room} #{message['id']} seen as {known} and as {value}")


def small_png(seed: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8 + seed % 8, 8), (seed * 37 % 256, seed * 91 % 256, 40)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


class Session:
    """One user's connection, reconnected as often as needed; tracks, per room, the last
    id it has seen so that it can resume without a gap."""

    def __init__(self, server: Server, tally: Tally, login: str) -> None:
        self.server = server
        self.tally = tally
        self.login = login
        self.client: Client | None = None
        self.token: str | None = None
        self.room: str | None = None
        self.last: dict[str, int] = {}
        #: how this session last entered each room, for problem reports
        self.entered: dict[str, str] = {}
        #: ids that arrived live while ``choose`` was still fetching pages
        self.catching: set[int] | None = None

    async def connect(self, *, by_token: bool = True) -> Client:
        await self.close()
        self.client = client = await Client.connect(self.server.ws)
        if self.token is None:
            answer = await self.client.register(self.login, PASSWORD)
        elif by_token:
            answer = await self.client.login(token=self.token)
        else:
            answer = await self.client.login(self.login, PASSWORD)
        if answer.get("Status") != "success":
            raise RuntimeError(f"{self.login}: {answer}")
        self.token = self.client.token
        self.room = None
        self.tally.counts["logins"] += 1
        return client

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None

    def on_frame(self, frame: dict[str, Any]) -> None:
        """Account for a pushed frame (a message of the current room, presence, lists)."""
        if frame.get("Command") == "message" and "Message" in frame and self.room:
            message = frame["Message"]
            self.tally.saw(self.room, message)
            if self.catching is not None:  # the rest of the pages is still to come
                self.catching.add(message["id"])
                return
            last = self.last.get(self.room)
            if last is not None and message["id"] != last + 1:
                self.tally.problem(f"{self.login} in {self.room}: #{message['id']} after #{last} "
                                   f"(entered {self.entered.get(self.room)})")
            self.last[self.room] = message["id"]

    async def answer(self, done: Any, timeout: float = 30) -> dict[str, Any]:
        """Read frames until ``done(frame)``; every frame on the way is accounted for."""
        assert self.client is not None
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.client.recv(timeout)
                if done(frame):
                    return frame
                self.on_frame(frame)

    async def choose(self, room: str, password: str | None = None) -> None:
        """Enter ``room``: from where this session left it (``After``, page after page
        while pages are full), or the newest page. Live messages that arrive between
        two pages are kept; pages and live messages together must leave no gap."""
        assert self.client is not None
        start = after = self.last.get(room)
        covered: set[int] = set()
        try:
            while True:
                request: dict[str, Any] = {"Type": "chat", "Command": "choice", "Chat": room}
                if password:
                    request["Password"] = password
                if after is not None:
                    request["After"] = after
                await self.client.send(request)
                answer = await self.answer(lambda f: f.get("Command") == "choice"
                                           or f.get("Status") in ("error", "access denied"))
                if answer.get("Command") != "choice":
                    raise RuntimeError(f"{self.login}: choice {room}: {answer}")
                page = answer["Messages"]
                ids = [m["id"] for m in page]
                if ids and ids != list(range(ids[0], ids[0] + len(ids))):
                    self.tally.problem(f"{self.login}: page of {room} not consecutive")
                if after is not None and ids and ids[0] != after + 1:
                    self.tally.problem(f"{self.login}: {room} resumed at #{ids[0]} "
                                       f"after #{after}")
                for m in page:
                    self.tally.saw(room, m)
                covered.update(ids)
                self.entered[room] = (f"at {time.monotonic():.1f} with After {start}, pages "
                                      f"up to {max(covered) if covered else '-'}")
                self.room = room
                if len(page) < AFTER_PAGE or after is None:
                    break
                if self.catching is None:
                    self.catching = set()
                after = ids[-1]
        finally:
            live, self.catching = self.catching or set(), None
        seen = covered | live
        if start is not None and seen:
            missing = set(range(start + 1, max(seen) + 1)) - seen
            if missing:
                self.tally.problem(f"{self.login}: {room} after #{start}: pages and live "
                                   f"messages miss {len(missing)}, from #{min(missing)}")
        if seen:
            self.last[room] = max(seen)
        elif start is None:
            self.last[room] = 0  # an empty room: everything from #1 on comes live

    async def send(self, text: str, image: str | None = None) -> bool:
        """Send a message and wait for its broadcast; True when acknowledged."""
        assert self.client is not None
        assert self.room is not None
        room = self.room
        await self.client.say(text, image=image)

        def mine(frame: dict[str, Any]) -> bool:
            message = frame.get("Message")
            if message is not None:
                return bool(message["user"] == self.login and message.get("text") == text)
            return frame.get("Command") == "message" and "Status" in frame

        frame = await self.answer(mine)
        if "Status" in frame:
            self.tally.counts[f"answer {frame['Status']}"] += 1
            return False
        self.on_frame(frame)
        self.tally.acked.add((room, self.login, text))
        self.tally.counts["acknowledged"] += 1
        if image:
            self.tally.counts["images acknowledged"] += 1
        return True

    async def earlier(self) -> None:
        assert self.client is not None
        await self.client.send({"Type": "chat", "Command": "earlier"})
        answer = await self.answer(lambda f: f.get("Command") == "earlier")
        ids = [m["id"] for m in answer.get("Messages", [])]
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            self.tally.problem(f"{self.login}: earlier page out of order: {ids}")
        for m in answer.get("Messages", []):
            self.tally.saw(answer["Chat"], m)
        self.tally.counts["earlier pages"] += 1


# -- the load ------------------------------------------------------------------------------

async def chatter(server: Server, tally: Tally, login: str, rooms: list[str],
                  closed: dict[str, str], stop: asyncio.Event, rate: float) -> None:
    rng = random.Random(login)
    s = Session(server, tally, login)
    n = 0
    try:
        while not stop.is_set():
            try:
                if s.client is None:
                    await s.connect(by_token=rng.random() < 0.7)
                if s.room is None or rng.random() < 0.03:
                    room = rng.choice(rooms)
                    await s.choose(room, closed.get(room))
                    tally.counts["choices"] += 1
                image = small_png(n) if rng.random() < 0.1 else None
                await s.send(f"{login} {n} " + "x" * rng.randrange(0, 300), image)
                n += 1
                if rng.random() < 0.03:
                    await s.earlier()
                if rng.random() < 0.01:
                    tally.counts["reconnects"] += 1
                    await s.close()
                await asyncio.sleep(rng.expovariate(rate))
            except GONE as exc:
                code = exc.code if isinstance(exc, Closed) else type(exc).__name__
                tally.counts[f"chatter closed ({code})"] += 1
                await s.close()
                if not stop.is_set():
                    await asyncio.sleep(0.5)
            except Exception as exc:
                tally.problem(f"{login}: {exc!r}")
                await s.close()
    finally:
        await s.close()


async def bulk_sender(server: Server, tally: Tally, room: str, stop: asyncio.Event,
                      rate: float) -> None:
    s = Session(server, tally, "bulk")
    n = 0
    try:
        while not stop.is_set():
            try:
                if s.client is None:
                    await s.connect()
                    await s.choose(room)
                await s.send(f"bulk {n} " + "b" * 3900)
                n += 1
                await asyncio.sleep(1 / rate)
            except GONE:
                await s.close()
                await asyncio.sleep(0.5)
    finally:
        await s.close()


async def slow_reader(server: Server, tally: Tally, login: str, room: str,
                      stop: asyncio.Event) -> None:
    """Reads one frame every two seconds for 50 seconds, then catches up at full
    speed (the server may have closed it with 4008 meanwhile: the close frame comes
    after what was queued); when closed, reconnects and resumes with ``After``."""
    s = Session(server, tally, login)
    try:
        while not stop.is_set():
            try:
                client = s.client
                if client is None:
                    client = await s.connect()
                    await s.choose(room)
                slow_until = time.monotonic() + 50
                while time.monotonic() < slow_until and not stop.is_set():
                    s.on_frame(await client.recv(timeout=30))
                    await asyncio.sleep(2.0)
                with contextlib.suppress(TimeoutError):
                    while not stop.is_set():
                        s.on_frame(await client.recv(timeout=1))
                tally.counts["slow reader caught up"] += 1
            except GONE as exc:
                code = exc.code if isinstance(exc, Closed) else type(exc).__name__
                tally.counts[f"slow reader closed ({code})"] += 1
                await s.close()
            except Exception as exc:
                tally.problem(f"{login}: {exc!r}")
                await s.close()
    finally:
        await s.close()


async def sample_rss(server: Server, tally: Tally, stop: asyncio.Event, every: float) -> None:
    start = time.monotonic()
    while not stop.is_set():
        tally.rss.append((time.monotonic() - start, server.rss_mb()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def run(args: argparse.Namespace, server: Server) -> tuple[Tally, dict[str, Any]]:
    tally = Tally()
    host = Session(server, tally, "host")
    await host.connect()
    rooms = ["lobby", "random", "pics", "secret"]
    closed = {"secret": "door code"}
    for room in [*rooms, "bulk"]:
        assert host.client is not None
        request = {"Type": "chat", "Command": "create", "Chat": room}
        if room in closed:
            request["Password"] = closed[room]
        await host.client.send(request)
        answer = await host.answer(lambda f: f.get("Command") == "create")
        if answer.get("Status") != "success":
            raise SystemExit(f"create {room}: {answer}")
    await host.close()

    stop = asyncio.Event()
    tasks = [asyncio.create_task(sample_rss(server, tally, stop, args.sample_seconds))]
    tasks += [asyncio.create_task(chatter(server, tally, f"user{i}", rooms, closed, stop,
                                          args.rate))
              for i in range(args.users)]
    tasks.append(asyncio.create_task(bulk_sender(server, tally, "bulk", stop, args.bulk_rate)))
    tasks += [asyncio.create_task(slow_reader(server, tally, f"slow{i}", "bulk", stop))
              for i in range(args.slow_readers)]
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        await asyncio.sleep(min(10.0, deadline - time.monotonic()))
        elapsed = args.minutes * 60 - (deadline - time.monotonic())
        rss = tally.rss[-1][1] if tally.rss else 0.0
        print(f"  {elapsed:6.0f}s  rss {rss:6.1f} MB  acked {tally.counts['acknowledged']:7d}"
              f"  received {tally.counts['messages received']:8d}"
              f"  problems {tally.counts['problems']}", flush=True)
    stop.set()
    await asyncio.gather(*tasks)
    metrics = await server.metrics()

    # Every room's whole history, through the protocol.
    await host.connect(by_token=False)
    stored: dict[str, list[dict[str, Any]]] = {}
    for room in [*rooms, "bulk"]:
        history: list[dict[str, Any]] = []
        after = 0
        while True:
            assert host.client is not None
            answer = await host.client.choose(room, after=after)
            while answer.get("Command") != "choice":
                answer = await host.client.recv()
            history += answer["Messages"]
            if len(answer["Messages"]) < AFTER_PAGE:
                break
            after = answer["Messages"][-1]["id"]
        stored[room] = history
    await host.close()
    return tally, {"stored": stored, "metrics": metrics}


def check(tally: Tally, stored: dict[str, list[dict[str, Any]]]
          ) -> tuple[list[str], int, int]:
    """Failures, the number of received messages not stored as received, and the
    number of acknowledged messages not stored."""
    failures = []
    table = {}
    for room, history in stored.items():
        ids = [m["id"] for m in history]
        if ids != list(range(1, len(ids) + 1)):
            failures.append(f"{room}: stored ids are not 1..{len(ids)}")
        for m in history:
            table[(room, m["id"])] = (m["user"], m.get("text"), m.get("image"))
    lost = [key for key, value in tally.received.items() if table.get(key) != value]
    if lost:
        failures.append(f"{len(lost)} received messages not stored as received, e.g. {lost[:3]}")
    texts = {(room, user, text) for (room, _), (user, text, _) in table.items()}
    missing = [a for a in tally.acked if a not in texts]
    if missing:
        failures.append(f"{len(missing)} acknowledged messages not stored, e.g. {missing[:3]}")
    if tally.problems:
        failures.append(f"{tally.counts['problems']} gaps or inconsistencies seen by clients, "
                        f"e.g. {tally.problems[:3]}")
    return failures, len(lost), len(missing)


def memory_flat(rss: list[tuple[float, float]], tolerance: float) -> tuple[bool, float, float]:
    third = len(rss) // 3
    middle = statistics.mean(r for _, r in rss[third:2 * third])
    last = statistics.mean(r for _, r in rss[2 * third:])
    return last <= middle * (1 + tolerance), middle, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=24, help="chatters")
    parser.add_argument("--rate", type=float, default=3.0,
                        help="messages a second per chatter (mean)")
    parser.add_argument("--bulk-rate", type=float, default=40.0,
                        help="4 KB messages a second into the slow readers' room")
    parser.add_argument("--slow-readers", type=int, default=3)
    parser.add_argument("--sample-seconds", type=float, default=None,
                        help="RSS sampling period (default: a sixtieth of the run, 1-10 s)")
    parser.add_argument("--tolerance", type=float, default=0.20,
                        help="allowed RSS growth from the middle third to the last")
    parser.add_argument("--outbox-limit", default="262144")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    if args.sample_seconds is None:
        args.sample_seconds = min(10.0, max(1.0, args.minutes * 60 / 60))

    data_dir = tempfile.mkdtemp(prefix="parley-soak-")
    server_args = ["--rate-limit", "100", "--rate-burst", "200",
                   "--login-rate", "1000", "--login-burst", "1000",
                   "--outbox-limit", args.outbox_limit]
    if args.database_url:
        server_args += ["--database-url", args.database_url]
    try:
        server = Server(Path(data_dir), *server_args).start()
    except ServerNotStarted as exc:
        raise SystemExit(f"the server did not start; see {data_dir}\n{exc}") from None
    print(f"parley soak: {args.minutes:g} min, {args.users} chatters at ~{args.rate:g} msg/s, "
          f"bulk {args.bulk_rate:g}/s, {args.slow_readers} slow readers; server pid "
          f"{server.pid}, data {data_dir}", flush=True)
    started = time.monotonic()
    try:
        tally, result = asyncio.run(run(args, server))
    finally:
        code = server.stop(timeout=30)
    duration = time.monotonic() - started
    stored = result["stored"]
    metrics = result["metrics"]
    failures, lost, missing = check(tally, stored)
    flat, middle, last = memory_flat(tally.rss, args.tolerance)
    if not flat:
        failures.append(f"RSS grew: last third {last:.1f} MB vs middle third {middle:.1f} MB")
    if code != 0:
        failures.append(f"server exit code {code}")

    rss = [r for _, r in tally.rss]
    total_stored = sum(len(h) for h in stored.values())
    rows = [
        ("duration", f"{duration:.0f} s"),
        ("messages stored", f"{total_stored} ("
                            + ", ".join(f"{r} {len(h)}" for r, h in stored.items()) + ")"),
        ("acknowledged / of them images", f"{tally.counts['acknowledged']} / "
                                          f"{tally.counts['images acknowledged']}"),
        ("message frames received", str(tally.counts["messages received"])),
        ("distinct messages received", str(len(tally.received))),
        ("received but not stored (as received)", str(lost)),
        ("acknowledged but not stored", str(missing)),
        ("logins / reconnects", f"{tally.counts['logins']} / {tally.counts['reconnects']}"),
        ("choices / earlier pages", f"{tally.counts['choices']} / {tally.counts['earlier pages']}"),
        ("slow readers dropped (4008)",
         f"{tally.counts['slow reader closed (4008)']} seen by clients, "
         f"{metrics.get('parley_slow_consumers_dropped_total', 0):.0f} by /metrics"),
        ("other closes", ", ".join(f"{k} {v}" for k, v in tally.counts.items()
                                   if "closed" in k and "4008" not in k) or "none"),
        ("error answers", ", ".join(f"{k} {v}" for k, v in tally.counts.items()
                                    if k.startswith("answer")) or "none"),
        ("client-side gaps/inconsistencies", str(tally.counts["problems"])),
        ("RSS samples", f"{len(rss)}, every {args.sample_seconds:g} s"),
        ("RSS min / max", f"{min(rss):.1f} / {max(rss):.1f} MB"),
        ("RSS mean, middle third", f"{middle:.1f} MB"),
        ("RSS mean, last third", f"{last:.1f} MB ({(last / middle - 1) * 100:+.1f}%, "
                                 f"limit +{args.tolerance * 100:.0f}%)"),
        ("server exit code", str(code)),
        ("verdict", "PASS" if not failures else "FAIL"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'check':<{width}} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")
    for failure in failures:
        print("FAIL:", failure)
    if args.keep or failures:
        print(f"data directory kept: {data_dir}")
    else:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
