#!/usr/bin/env python3
"""Resource probes: re-measure, against this checkout, how the server holds up under
the loads its limits are there for.

    python scripts/probe.py login-frames
    python scripts/probe.py http --seconds 20
    python scripts/probe.py all --seconds 10      # every scenario, durations cut to 10 s

Each scenario starts a ``parley serve`` of its own (``parley.testing.ServerProcess``,
SQLite in a temporary directory), drives a bounded load at it from 127.0.0.1 (and
127.0.0.2 where it needs a second address), and prints a short table. This is a
measuring tool, not a test: it checks nothing and exits 0 unless a scenario could not
run. Figures depend on the machine; compare runs on the same one. Linux only (/proc).

The scenarios, and how to read them:

``login-frames``
    A login with a 7 MB ``Login``: 30 frames on one socket, then 40 at once on 40
    sockets (``--frame-mb``, ``--sequential``, ``--parallel``), server defaults (with
    fast hashing, as in every scenario that does not say otherwise). Prints
    the server's RSS before, after the 30, at its peak, and once the server has let go
    of every socket; and the answers by status. An account request over its size cap
    is answered without being kept: the RSS after should be near the one before (the
    allocator may keep some pages of the 40 frames read at once).

``chat-guessing``
    One user guesses a closed chat's password on one socket for 10 s (``--seconds``):
    answers a second, and *checked* guesses a second (the ``access denied`` answers;
    ``rate limited`` ones were refused unchecked). Then the same user guesses from 100
    sockets (``--sockets``) while another user logs in by password from 127.0.0.2
    five times (``--logins``): that login's latency, idle and under the guessing, shows
    whether guesses can starve the password-hashing threads. Real argon2 hashing by
    default (``--argon2-profile``), ``--heartbeat 0``.

``history``
    A chat of 1,000 messages of 4,000 control characters (6 bytes each in JSON), then
    20 sockets that each ask for the history with ``After: 0`` and never read
    (``--sockets``, ``--messages``, ``--text-length``, ``--repeat``). Prints the RSS
    before the requests, its peak over 8 s (``--seconds``) and the growth, and the
    sockets the server still holds. The growth should stay near the sockets times one
    answer (about 2.4 MB each), not the whole history per socket. Message and login
    limits are lifted so that writing the history and registering take seconds.

``images``
    8 users each send a 39-megapixel PNG (6240 x 6240, ``--side``) again and again for
    30 s (``--seconds``), each again as soon as it has its answer, while another user
    logs in by password every 0.3 s. Prints
    RSS before, at its peak and after; the login latency (median, max); and the
    image answers by status (``stored``, or the refusal: ``rate limited`` when the
    image-decoding pool is full). Message and login limits are lifted, so that the
    image pool's own limits (``--image-threads``, ``--image-queue``,
    ``--image-memory``) are what refuse. Real argon2 hashing by default.

``chat-lists``
    50 logged-in idle sockets count the frames and bytes they receive while one user
    creates and deletes a chat in a loop for 10 s (``--idle``, ``--seconds``). Run
    twice by default (``--chat-limit``): at the server's defaults, where the per-user
    create/delete limit (``--chat-rate``, ``--chat-burst``) refuses most of the loop;
    and with that limit lifted, where what each idle socket receives shows the cost
    of the whole-list pushes themselves (at most 2 a second after a burst of 10).

``http``
    Three parts (``--parts``), each with a server of its own:

    - ``slow``: 2,000 connections that send a request head one header line every 5 s,
      and 500 that send nothing (``--slow``, ``--silent``); after 60 s
      (``--seconds``), how many are still open, and the server's open files over
      time. ``--max-connections-per-ip 0`` lifts the per-address caps, so that all of
      them reach the head deadline (``--head-timeout``, 10 s): they should all be
      closed, and the open files back at their start, a little after it.
    - ``refused``: with ``--max-connections-per-ip 1``, one WebSocket is opened, then
      1,000 more upgrades are tried and left open on this side (``--attempts``):
      the answers by status, the server's open files before and after, and how many
      of the refused connections are still open 1 s later. Then the same behind a
      trusted proxy (``--trusted-proxy 127.0.0.1``, ``X-Forwarded-For: 10.9.9.9``).
    - ``healthz``: the server runs with an open-files limit of 1,024 (``--nofile``,
      applied to the server's process alone, with ``prlimit``); 1,100 silent
      connections are opened from 127.0.0.1 (``--connections``), then ``/healthz``
      is asked from 127.0.0.2. With the per-address TCP cap, one address cannot use up
      the server's file handles: the answer should be ``200``.

Every scenario takes ``--serve-args "..."``: more ``parley serve`` flags, after the
scenario's own (the last of a flag wins), e.g. ``--serve-args="--image-threads 4"``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp

from parley.client import Client, Frame
from parley.testing import PARLEY_SERVE, ServerNotStarted, ServerProcess

PASSWORD = "correct horse"
HOST = "127.0.0.1"
#: a second loopback address: another machine, as far as the server can tell
OTHER = "127.0.0.2"
LIFT_MESSAGES = ("--rate-limit", "100000", "--rate-burst", "100000")
LIFT_LOGINS = ("--login-rate", "100000", "--login-burst", "100000")
LIFT_CHATS = ("--chat-rate", "100000", "--chat-burst", "100000")
#: an answer this late means something is stuck, not slow
ANSWER_TIMEOUT = 120.0


class ProbeError(Exception):
    """A scenario could not set itself up (an unexpected answer)."""


# -- figures ---------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def open_files(pid: int) -> int:
    """File handles a process holds (sockets included)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def open_files_limit(pid: int) -> str:
    """The soft limit of open files of a process, from /proc."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


class Sampler:
    """``async with`` it: :meth:`sample` runs every ``every`` seconds meanwhile."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid = pid
        self.every = every
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def sample(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)


class Rss(Sampler):
    """``async with Rss(pid) as rss``: samples a process's RSS every 50 ms meanwhile;
    ``rss.before``, ``rss.peak``, ``rss.now()``."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(pid, every)
        self.before = rss_mb(pid)
        self.peak = self.before

    def now(self) -> float:
        value = rss_mb(self.pid)
        self.peak = max(self.peak, value)
        return value

    def sample(self) -> None:
        self.now()


def mib(value: float) -> str:
    return f"{value:.0f} MiB"


def seconds(values: Sequence[float]) -> str:
    if not values:
        return "none"
    return (f"median {statistics.median(values):.3f} s, max {max(values):.3f} s "
            f"(n={len(values)})")


def counts(counter: Counter[str]) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{n} {what}" for what, n in counter.most_common())


def status_of(frame: Frame) -> str:
    status = str(frame.get("Status", "ok"))
    return f"{status} ({frame['Detail']})" if "Detail" in frame else status


def describe(message: aiohttp.WSMessage) -> str:
    """An answer as a status: ``error (Detail)``, ``closed 1009`` ..."""
    if message.type is aiohttp.WSMsgType.TEXT:
        frame = json.loads(message.data)
        return status_of(frame) if isinstance(frame, dict) else "not an object"
    if message.type is aiohttp.WSMsgType.CLOSE:
        return f"closed {message.data}"
    return message.type.name.lower()


@dataclass
class Report:
    """What a scenario prints: a title, the server's flags, rows, notes."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, label: str, value: object) -> None:
        self.rows.append((label, str(value)))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def server(self, server: ServerProcess, why: str = "") -> None:
        flags = " ".join(server.args) or "(defaults)"
        self.row("server", f"parley serve {flags}" + (f"  [{why}]" if why else ""))

    def print(self) -> None:
        width = max((len(label) for label, _ in self.rows), default=0)
        print(f"\n== {self.title}")
        for label, value in self.rows:
            print(f"  {label:<{width}}  {value}")
        for note in self.notes:
            print(f"  note: {note}")
        sys.stdout.flush()


# -- the server and its clients ----------------------------------------------------------

@contextlib.asynccontextmanager
async def running(args: argparse.Namespace, name: str, *flags: str,
                  command: Sequence[str] = PARLEY_SERVE,
                  argon2: str = "test") -> AsyncIterator[ServerProcess]:
    """A started server (``flags``, then ``--serve-args``), stopped on the way out."""
    data = Path(args.workdir) / name
    extra = shlex.split(args.serve_args)
    server = ServerProcess(data, *flags, "--argon2-profile", argon2, *extra,
                           command=command, fast_hashing=argon2 == "test")
    server.start()
    try:
        yield server
    finally:
        code = await asyncio.to_thread(server.stop)
        if code != 0:
            print(f"  ({name}: the server exited with {code}; log: {server.log})",
                  file=sys.stderr)


async def connect(url: str, address: str = HOST, max_msg_size: int = 64 << 20) -> Client:
    """A client whose socket comes from ``address`` (a loopback address)."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    try:
        ws = await session.ws_connect(url, max_msg_size=max_msg_size)
    except BaseException:
        await session.close()
        raise
    return Client(session, ws)


async def user(url: str, login: str, address: str = HOST) -> Client:
    client = await connect(url, address)
    answer = await client.register(login, PASSWORD)
    if answer.get("Status") != "success":
        await client.close()
        raise ProbeError(f"registering {login}: {answer}")
    return client


async def close_all(clients: Sequence[Client], wait: float = 10) -> None:
    async def one(client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), wait)

    await asyncio.gather(*(one(c) for c in clients))


def is_push(frame: Frame) -> bool:
    """A frame nobody asked for: a list, presence or message push."""
    return frame.get("Command") in ("list", "connected", "message") and "Status" not in frame


async def ask(client: Client, request: Frame) -> Frame:
    """Send a request, return its answer (pushes on the way are skipped)."""
    await client.send(request)
    while True:
        frame = await client.recv(timeout=ANSWER_TIMEOUT)
        if not is_push(frame):
            return frame


async def metric(server: ServerProcess, name: str) -> float | None:
    """One value of the server's /metrics (a series without labels)."""
    async with aiohttp.ClientSession() as http, http.get(server.http + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def sockets_open(server: ServerProcess) -> int:
    value = await metric(server, "parley_connections")
    return -1 if value is None else int(value)


async def settled(server: ServerProcess, wait: float = 10) -> float:
    """Wait until the server holds no socket (at most ``wait`` s); the seconds it took."""
    start = time.monotonic()
    for _ in range(int(wait / 0.05)):
        if await sockets_open(server) == 0:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def login_latencies(url: str, login: str, n: int, address: str,
                          statuses: Counter[str], pause: float = 0.3,
                          until: float | None = None) -> list[float]:
    """``n`` password logins of ``login`` (or as many as fit before ``until``), each on
    a new socket, ``pause`` s apart: the seconds from request to answer."""
    times: list[float] = []
    while (len(times) < n) if until is None else (time.monotonic() < until):
        client = await connect(url, address)
        try:
            start = time.monotonic()
            answer = await client.request(
                {"Type": "account", "Command": "login", "Login": login, "Password": PASSWORD},
                timeout=ANSWER_TIMEOUT)
            times.append(time.monotonic() - start)
            statuses[status_of(answer)] += 1
        finally:
            await client.close()
        await asyncio.sleep(pause)
    return times


# -- login-frames ----------------------------------------------------------------------

async def login_frames(args: argparse.Namespace) -> Report:
    size = int(args.frame_mb * 1_000_000)
    report = Report(f"login-frames: {args.frame_mb:g} MB login frames, {args.sequential} on "
                    f"one socket, then {args.parallel} at once on {args.parallel} sockets")
    frame = json.dumps({"Type": "account", "Command": "login", "Login": "x" * size,
                        "Password": PASSWORD})
    answers: Counter[str] = Counter()
    async with running(args, "login-frames") as server:
        report.server(server, "fast hashing, otherwise the server's defaults")
        await asyncio.sleep(1)
        async with Rss(server.pid) as rss, aiohttp.ClientSession() as http:
            report.row("RSS before", mib(rss.before))
            ws = await http.ws_connect(server.ws, max_msg_size=0)
            for n in range(args.sequential):
                # a different login each time
                await ws.send_str(frame.replace("xxxxxxxx", f"{n:08d}", 1))
                answers[describe(await ws.receive(timeout=ANSWER_TIMEOUT))] += 1
            await ws.close()
            report.row(f"RSS after {args.sequential} on one socket", mib(rss.now()))

            async def one(n: int) -> str:
                socket = await http.ws_connect(server.ws, max_msg_size=0)
                try:
                    await socket.send_str(frame.replace("xxxxxxxx", f"b{n:07d}", 1))
                    return describe(await socket.receive(timeout=ANSWER_TIMEOUT))
                finally:
                    await socket.close()

            answers.update(await asyncio.gather(*(one(n) for n in range(args.parallel))))
            report.row(f"RSS after {args.parallel} more at once", mib(rss.now()))
            took = await settled(server)
            await asyncio.sleep(1)
            report.row("RSS peak", mib(rss.peak))
            report.row("RSS after, every socket closed", mib(rss.now()))
        report.row("server sockets open at the end", await sockets_open(server))
        report.note(f"the server let go of the last socket {took:.1f} s after the last answer; "
                    "'after' is 1 s later")
    report.row("answers", counts(answers))
    return report


# -- chat-guessing ---------------------------------------------------------------------

async def chat_guessing(args: argparse.Namespace) -> Report:
    report = Report(f"chat-guessing: one user guesses a closed chat's password, on one "
                    f"socket for {args.seconds:g} s, then on {args.sockets} sockets; "
                    "another user's password login meanwhile")
    async with running(args, "chat-guessing", "--heartbeat", "0",
                       argon2=args.argon2_profile) as server:
        report.server(server, f"argon2 profile {args.argon2_profile!r}; "
                              "--heartbeat 0: no pings")
        url = server.ws
        clients: list[Client] = []
        try:
            owner = await user(url, "owner1")
            clients.append(owner)
            answer = await owner.create("secret", "open sesame")
            if answer.get("Status") != "success":
                raise ProbeError(f"creating the closed chat: {answer}")
            guesser = await user(url, "guesser")
            clients.append(guesser)
            await (await user(url, "victim", OTHER)).close()

            victim: Counter[str] = Counter()
            idle = await login_latencies(url, "victim", args.logins, OTHER, victim)
            report.row("victim login, idle", seconds(idle))

            one_socket: Counter[str] = Counter()
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < args.seconds:
                answer = await ask(guesser, {"Type": "chat", "Command": "choice",
                                             "Chat": "secret", "Password": f"guess {n:06d}"})
                one_socket[status_of(answer)] += 1
                n += 1
            took = time.monotonic() - start
            report.row(f"one socket, {took:.0f} s",
                       f"{n / took:.1f} answers/s, "
                       f"{one_socket['access denied'] / took:.1f} checked guesses/s "
                       "(access denied)")
            report.row("  its answers", counts(one_socket))

            sockets = []
            for _ in range(args.sockets):
                client = await connect(url)
                clients.append(client)
                answer = await ask(client, {"Type": "account", "Command": "login",
                                            "Token": guesser.token})
                if answer.get("Status") != "success":
                    raise ProbeError(f"token login of the guesser: {answer}")
                sockets.append(client)
            stop = asyncio.Event()
            many: Counter[str] = Counter()

            async def guess(client: Client, k: int) -> None:
                i = 0
                while not stop.is_set():
                    answer = await ask(client, {"Type": "chat", "Command": "choice",
                                                "Chat": "secret", "Password": f"g{k} {i}"})
                    many[status_of(answer)] += 1
                    i += 1

            tasks = [asyncio.create_task(guess(c, k)) for k, c in enumerate(sockets)]
            await asyncio.sleep(args.warmup)
            start = time.monotonic()
            loaded = await login_latencies(url, "victim", args.logins, OTHER, victim)
            took = time.monotonic() - start + args.warmup
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_TIMEOUT + 10)
            report.row(f"victim login, {args.sockets} sockets guessing", seconds(loaded))
            report.row(f"{args.sockets} sockets, {took:.0f} s", counts(many))
            report.row("victim login answers", counts(victim))
        finally:
            await close_all(clients)
    report.note("the victim logs in from 127.0.0.2, the guesser's sockets come from "
                "127.0.0.1; 'access denied' is a checked (hashed) guess")
    return report


# -- history ---------------------------------------------------------------------------

async def history(args: argparse.Namespace) -> Report:
    report = Report(f"history: {args.sockets} sockets that never read ask for the history "
                    f"(After 0) of {args.messages} messages of {args.text_length} "
                    "control characters")
    async with running(args, "history", *LIFT_MESSAGES, *LIFT_LOGINS) as server:
        report.server(server, "message and login limits lifted to write the history")
        url = server.ws
        text = "\x01" * args.text_length
        clients: list[Client] = []
        try:
            writer = await user(url, "writer")
            clients.append(writer)
            answer = await writer.create("big")
            if answer.get("Status") != "success":
                raise ProbeError(f"creating the chat: {answer}")
            written: Counter[str] = Counter()
            left = args.messages
            while left:
                batch = min(50, left)
                for _ in range(batch):
                    await writer.say(text)
                got = 0
                while got < batch:
                    frame = await writer.recv(timeout=ANSWER_TIMEOUT)
                    if frame.get("Command") == "message":
                        got += 1
                        written[str(frame.get("Status", "stored"))] += 1
                left -= batch
            report.row("history written", counts(written))
            await writer.close()

            stallers = [await user(url, f"s{i}") for i in range(args.sockets)]
            clients.extend(stallers)
            await asyncio.sleep(1)
            async with Rss(server.pid, every=0.1) as rss:
                report.row("RSS before the requests", mib(rss.before))
                for client in stallers:
                    for _ in range(args.repeat):
                        await client.send({"Type": "chat", "Command": "choice", "Chat": "big",
                                           "After": 0})
                await asyncio.sleep(args.seconds)
                now = rss.now()
                report.row(f"RSS peak within {args.seconds:g} s", mib(rss.peak))
                report.row("RSS growth at the peak", mib(rss.peak - rss.before))
                report.row(f"RSS after {args.seconds:g} s", mib(now))
            report.row("sockets the server still holds",
                       f"{await sockets_open(server)} of {args.sockets}")
            dropped = await metric(server, "parley_slow_consumers_dropped_total")
            report.row("closed as too slow (4008)", "?" if dropped is None else int(dropped))
        finally:
            await close_all(clients, wait=5)
    page = min(100, args.messages) * (args.text_length * 6 + 100)
    report.note(f"one answer to 'After 0' is a page of at most 100 messages, here about "
                f"{page / 1e6:.1f} MB of JSON; requests per socket: {args.repeat}")
    return report


# -- images ----------------------------------------------------------------------------

def png_base64(side: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), "orange").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


async def images(args: argparse.Namespace) -> Report:
    pixels = args.side * args.side
    report = Report(f"images: {args.users} users send a {pixels / 1e6:.0f}-megapixel PNG "
                    f"again and again for {args.seconds:g} s; another user logs in "
                    "meanwhile")
    png = await asyncio.to_thread(png_base64, args.side)
    async with running(args, "images", *LIFT_MESSAGES, *LIFT_LOGINS,
                       argon2=args.argon2_profile) as server:
        report.server(server, f"argon2 profile {args.argon2_profile!r}; message and login "
                              "limits lifted: the image pool's limits refuse")
        report.row("image", f"{args.side} x {args.side} PNG, {len(png) * 3 // 4} bytes")
        url = server.ws
        clients: list[Client] = []
        try:
            for i in range(args.users):
                sender = await user(url, f"sender{i}")
                clients.append(sender)
                answer = await sender.create(f"room{i}")
                if answer.get("Status") != "success":
                    raise ProbeError(f"creating room{i}: {answer}")
            clients.append(await user(url, "watcher"))
            await asyncio.sleep(1)
            answers: Counter[str] = Counter()
            statuses: Counter[str] = Counter()
            async with Rss(server.pid) as rss:
                report.row("RSS before", mib(rss.before))
                start = time.monotonic()
                deadline = start + args.seconds

                async def flood(client: Client) -> None:
                    while time.monotonic() < deadline:
                        await client.send({"Type": "chat", "Command": "message", "Image": png})
                        while True:
                            frame = await client.recv(timeout=ANSWER_TIMEOUT)
                            if frame.get("Command") == "message":
                                break
                        answers[status_of(frame) if "Status" in frame else "stored"] += 1

                logins = asyncio.create_task(
                    login_latencies(url, "watcher", 0, HOST, statuses, until=deadline))
                await asyncio.gather(*(flood(c) for c in clients[:args.users]))
                times = await logins
                took = time.monotonic() - start
                await asyncio.sleep(1)
                report.row("RSS peak", mib(rss.peak))
                report.row("RSS after (1 s after the last answer)", mib(rss.now()))
            report.row("watcher login", seconds(times))
            report.row("watcher login answers", counts(statuses))
            report.row(f"image answers in {took:.0f} s", counts(answers))
            report.row("images stored a second", f"{answers['stored'] / took:.2f}")
        finally:
            await close_all(clients)
    report.note("each sender sends its image again as soon as it has the answer, refused or "
                "stored; the watcher logs in on a new socket every 0.3 s")
    return report


# -- chat-lists ------------------------------------------------------------------------

async def chat_lists_once(args: argparse.Namespace, lifted: bool) -> Report:
    report = Report(f"chat-lists ({'chat limit lifted' if lifted else 'server defaults'}): "
                    f"one user creates and deletes a chat in a loop for {args.seconds:g} s; "
                    f"{args.idle} idle sockets count what they receive")
    flags = ("--login-rate", "1000", "--login-burst", "1000", *(LIFT_CHATS if lifted else ()))
    name = "chat-lists-lifted" if lifted else "chat-lists"
    async with running(args, name, *flags) as server:
        report.server(server, "login limit lifted to register the users" +
                      ("; per-user chat limit lifted" if lifted else ""))
        url = server.ws
        idle = [await user(url, f"idle{i}") for i in range(args.idle)]
        flooder = await user(url, "flooder")
        received = [[0, 0] for _ in idle]

        async def reader(i: int, client: Client) -> None:
            while True:
                message = await client.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return
                received[i][0] += 1
                received[i][1] += len(message.data)

        tasks = [asyncio.create_task(reader(i, c)) for i, c in enumerate(idle)]
        try:
            await asyncio.sleep(0.5)
            for tally in received:  # what followed their own registration
                tally[:] = [0, 0]
            creates: Counter[str] = Counter()
            deletes: Counter[str] = Counter()
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < args.seconds:
                n += 1
                chat = f"c{n}"
                await flooder.send({"Type": "chat", "Command": "create", "Chat": chat})
                answer = await flooder.until(lambda f: f.get("Command") == "create",
                                             ANSWER_TIMEOUT)
                creates[status_of(answer)] += 1
                await flooder.send({"Type": "chat", "Command": "delete", "Chat": chat})
                answer = await flooder.until(
                    lambda f: f.get("Command") == "delete" and f.get("Status") != "deleted",
                    ANSWER_TIMEOUT)
                deletes[status_of(answer)] += 1
            loop = time.monotonic() - start
            await asyncio.sleep(1)  # the last list pushes
            took = time.monotonic() - start
            frames = [tally[0] for tally in received]
            sizes = [tally[1] for tally in received]
            report.row(f"requests in {loop:.1f} s", 2 * n)
            report.row("create answers", counts(creates))
            report.row("delete answers", counts(deletes))
            report.row(f"per idle socket, in {took:.1f} s",
                       f"frames min {min(frames)} max {max(frames)}, "
                       f"bytes max {max(sizes)}")
            report.row("per idle socket, a second",
                       f"{max(frames) / took:.1f} frames, {max(sizes) / took:.0f} bytes")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_all([*idle, flooder])
    return report


async def chat_lists(args: argparse.Namespace) -> list[Report]:
    variants = {"server": [False], "lifted": [True], "both": [False, True]}[args.chat_limit]
    return [await chat_lists_once(args, lifted) for lifted in variants]


# -- http ------------------------------------------------------------------------------

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def opened(port: int, address: str = HOST) -> Streams:
    return await asyncio.open_connection(HOST, port, local_addr=(address, 0))


async def still_open(reader: asyncio.StreamReader, wait: float = 0.05) -> bool:
    """True unless the server has closed the connection (whatever it sent before)."""
    try:
        while True:
            if not await asyncio.wait_for(reader.read(65536), wait):
                return False
    except TimeoutError:
        return True
    except OSError:
        return False


def close_streams(streams: Sequence[Streams]) -> None:
    for _, writer in streams:
        writer.close()


class Files(Sampler):
    """``async with Files(pid) as files``: the process's open files every 0.5 s."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(pid, every)
        self.start = time.monotonic()
        self.samples: list[tuple[float, int]] = []

    def sample(self) -> None:
        self.samples.append((time.monotonic() - self.start, open_files(self.pid)))

    def peak(self) -> tuple[float, int]:
        return max(self.samples, key=lambda s: s[1])

    def back_to(self, level: int) -> float | None:
        """Seconds until the count fell to ``level`` or below after its peak."""
        when, _ = self.peak()
        for at, n in self.samples:
            if at >= when and n <= level:
                return at
        return None


async def http_slow(args: argparse.Namespace) -> Report:
    report = Report(f"http slow: {args.slow} connections sending a request head one line "
                    f"every {args.every:g} s, {args.silent} silent ones; open after "
                    f"{args.seconds:g} s")
    async with running(args, "http-slow", "--max-connections-per-ip", "0") as server:
        report.server(server, "per-address caps lifted: every connection meets the head "
                              "deadline")
        base = open_files(server.pid)
        report.row("server open files before", base)
        streams: list[Streams] = []
        failed = 0
        try:
            async with Files(server.pid) as files:
                start = files.start
                for i in range(args.slow + args.silent):
                    try:
                        reader, writer = await opened(server.port)
                    except OSError:
                        failed += 1
                        continue
                    if i < args.slow:
                        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    streams.append((reader, writer))
                report.row(f"connected in {time.monotonic() - start:.1f} s",
                           f"{len(streams)} ({failed} failed); server open files "
                           f"{open_files(server.pid)}")
                deadline = start + args.seconds
                while (left := deadline - time.monotonic()) > 0:
                    await asyncio.sleep(min(args.every, left))
                    for reader, writer in streams[:args.slow]:
                        if not writer.is_closing() and not reader.at_eof():
                            writer.write(b"X-a: b\r\n")
                alive = await asyncio.gather(*(still_open(r) for r, _ in streams))
                at, peak = files.peak()
                back = files.back_to(base + 16)
            slow_open = sum(alive[:args.slow])
            report.row(f"open after {args.seconds:g} s",
                       f"slow-header {slow_open}/{args.slow}, "
                       f"silent {sum(alive[args.slow:])}/{args.silent}")
            report.row("server open files peak", f"{peak} at {at:.1f} s")
            report.row("server open files back to start (+16)",
                       "not within the run" if back is None else f"at {back:.1f} s")
            report.row("server open files at the end", open_files(server.pid))
        finally:
            close_streams(streams)
    return report


async def http_refused(args: argparse.Namespace, proxy: bool) -> Report:
    behind = " behind a trusted proxy (X-Forwarded-For 10.9.9.9)" if proxy else ""
    report = Report(f"http refused{behind}: one WebSocket allowed, {args.attempts} more "
                    "upgrades tried and left open")
    flags = ["--max-connections-per-ip", "1"]
    if proxy:
        flags += ["--trusted-proxy", HOST]
    head = UPGRADE + (b"X-Forwarded-For: 10.9.9.9\r\n" if proxy else b"") + b"\r\n"
    async with running(args, "http-refused-proxy" if proxy else "http-refused",
                       *flags) as server:
        report.server(server)
        streams: list[Streams] = []
        try:
            reader, writer = await opened(server.port)
            writer.write(head)
            streams.append((reader, writer))
            first = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
            report.row("first upgrade", first)
            base = open_files(server.pid)
            statuses: Counter[str] = Counter()
            for _ in range(args.attempts):
                try:
                    reader, writer = await opened(server.port)
                except OSError as exc:
                    statuses[f"connect failed ({exc.strerror})"] += 1
                    continue
                writer.write(head)
                streams.append((reader, writer))
                try:
                    line = await asyncio.wait_for(reader.readline(), 5)
                    statuses[line.decode().strip() or "closed"] += 1
                except OSError:
                    statuses["reset"] += 1
                except TimeoutError:
                    statuses["no answer in 5 s"] += 1
            await asyncio.sleep(1)
            report.row(f"{args.attempts} attempts", counts(statuses))
            report.row("server open files", f"{base} after the first, "
                       f"{open_files(server.pid)} 1 s after the last attempt")
            alive = await asyncio.gather(*(still_open(r) for r, _ in streams[1:]))
            report.row("refused connections still open", f"{sum(alive)}/{len(alive)}")
        finally:
            close_streams(streams)
    return report


async def http_healthz(args: argparse.Namespace) -> Report:
    report = Report(f"http healthz: open-files limit {args.nofile}, {args.connections} "
                    "silent connections from 127.0.0.1, then /healthz from 127.0.0.2")
    prlimit = shutil.which("prlimit")
    limit = f"{args.nofile}:{args.nofile}"
    command = ([prlimit, f"--nofile={limit}", *PARLEY_SERVE] if prlimit else
               ["sh", "-c", f'ulimit -n {args.nofile} && exec "$@"', "sh", *PARLEY_SERVE])
    async with running(args, "http-healthz", command=command) as server:
        report.server(server, f"{'prlimit' if prlimit else 'ulimit'} --nofile {limit}; "
                              "otherwise the server's defaults")
        report.row("server open-files limit", open_files_limit(server.pid))
        streams: list[Streams] = []
        failed = ""
        try:
            for _ in range(args.connections):
                try:
                    streams.append(await opened(server.port))
                except OSError as exc:
                    failed = f" (then: {exc.strerror})"
                    break
            await asyncio.sleep(1)
            alive = await asyncio.gather(*(still_open(r) for r, _ in streams))
            report.row("silent connections made", f"{len(streams)}{failed}")
            report.row("still open 1 s later", sum(alive))
            report.row("server open files", open_files(server.pid))
            start = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(opened(server.port, OTHER), 5)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = await asyncio.wait_for(reader.read(), 5)
                writer.close()
                status = answer.split(b"\r\n")[0].decode(errors="replace") or "closed"
                body = answer.partition(b"\r\n\r\n")[2].strip().decode(errors="replace")
                result = f"{status} {body!r}"
            except (OSError, TimeoutError) as exc:
                result = f"failed: {type(exc).__name__} {exc}"
            report.row("/healthz from 127.0.0.2",
                       f"{result} in {time.monotonic() - start:.3f} s")
        finally:
            close_streams(streams)
    return report


async def http(args: argparse.Namespace) -> list[Report]:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    reports = []
    for part in parts:
        if part == "slow":
            reports.append(await http_slow(args))
        elif part == "refused":
            reports.append(await http_refused(args, proxy=False))
            reports.append(await http_refused(args, proxy=True))
        elif part == "healthz":
            reports.append(await http_healthz(args))
        else:
            raise ProbeError(f"no http part {part!r} (slow, refused, healthz)")
    return reports


# -- the command line ------------------------------------------------------------------

Scenario = Callable[[argparse.Namespace], Awaitable[Report | list[Report]]]


def _login_frames_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frame-mb", type=float, default=7, help="Login length, MB (7)")
    p.add_argument("--sequential", type=int, default=30, help="frames on one socket (30)")
    p.add_argument("--parallel", type=int, default=40, help="then sockets at once (40)")


def _chat_guessing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=10, help="one-socket guessing (10)")
    p.add_argument("--sockets", type=int, default=100, help="guessing sockets (100)")
    p.add_argument("--logins", type=int, default=5, help="victim logins per phase (5)")
    p.add_argument("--warmup", type=float, default=3,
                   help="seconds of guessing before the victim logs in (3)")
    p.add_argument("--argon2-profile", choices=("default", "test"), default="default",
                   help="password hashing of the server (default: the real one)")


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=8, help="RSS watched for (8)")
    p.add_argument("--sockets", type=int, default=20, help="never-reading sockets (20)")
    p.add_argument("--messages", type=int, default=1000, help="history length (1000)")
    p.add_argument("--text-length", type=int, default=4000,
                   help="characters (U+0001) per message (4000)")
    p.add_argument("--repeat", type=int, default=1,
                   help="'choice After 0' requests per socket (1)")


def _images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=30, help="sending time (30)")
    p.add_argument("--users", type=int, default=8, help="sending users (8)")
    p.add_argument("--side", type=int, default=6240, help="PNG width and height (6240)")
    p.add_argument("--argon2-profile", choices=("default", "test"), default="default",
                   help="password hashing of the server (default: the real one)")


def _chat_lists_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=10, help="create/delete loop (10)")
    p.add_argument("--idle", type=int, default=50, help="idle logged-in sockets (50)")
    p.add_argument("--chat-limit", choices=("server", "lifted", "both"), default="both",
                   help="the per-user create/delete limit: the server's default, "
                        "lifted, or a run of each (both)")


def _http_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default="slow,refused,healthz",
                   help="comma-separated: slow, refused, healthz (all three)")
    p.add_argument("--seconds", type=float, default=60,
                   help="slow: seconds from the first connection to the count (60); "
                        "more than --head-timeout (10) to see the deadline act")
    p.add_argument("--slow", type=int, default=2000, help="slow: slow-header connections")
    p.add_argument("--silent", type=int, default=500, help="slow: silent connections (500)")
    p.add_argument("--every", type=float, default=5,
                   help="slow: seconds between header lines (5)")
    p.add_argument("--attempts", type=int, default=1000,
                   help="refused: upgrades tried past the limit (1000)")
    p.add_argument("--nofile", type=int, default=1024,
                   help="healthz: the server's open-files limit (1024)")
    p.add_argument("--connections", type=int, default=1100,
                   help="healthz: silent connections (1100)")


SCENARIOS: dict[str, tuple[Scenario, Callable[[argparse.ArgumentParser], None], str]] = {
    "login-frames": (login_frames, _login_frames_args,
                     "7 MB login frames: RSS before/after"),
    "chat-guessing": (chat_guessing, _chat_guessing_args,
                      "closed-chat password guessing; another user's login latency"),
    "history": (history, _history_args,
                "never-reading sockets asking for a long history: RSS"),
    "images": (images, _images_args,
               "39-megapixel PNGs from 8 users; RSS and another user's login latency"),
    "chat-lists": (chat_lists, _chat_lists_args,
                   "a create/delete loop: what 50 idle sockets receive"),
    "http": (http, _http_args,
             "slow and silent connections, refused upgrades, /healthz under few files"),
}


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--serve-args", default="",
                        help="more 'parley serve' flags, after the scenario's own")
    common.add_argument("--keep", action="store_true",
                        help="keep the servers' data dirs and logs (the path is printed)")
    common.add_argument("--timeout", type=float, default=900,
                        help="give up on a scenario after this many seconds (900)")
    top = argparse.ArgumentParser(
        prog="probe.py", description="Re-measure the server under hostile loads; "
        "see the module docstring for what each scenario shows.")
    sub = top.add_subparsers(dest="scenario", required=True, metavar="NAME")
    subs = {}
    for name, (_, add, text) in SCENARIOS.items():
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        add(p)
        subs[name] = p
    every = sub.add_parser("all", parents=[common], help="every scenario with its defaults")
    every.add_argument("--seconds", type=float, default=None,
                       help="cap every scenario's duration at this many seconds")
    return top, subs


async def run(name: str, args: argparse.Namespace) -> bool:
    scenario = SCENARIOS[name][0]
    start = time.monotonic()
    print(f"-- {name} ...", file=sys.stderr, flush=True)
    try:
        async with asyncio.timeout(args.timeout):
            result = await scenario(args)
    except (ProbeError, ServerNotStarted, OSError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"\n== {name}: could not be measured: {type(exc).__name__}: {exc}", flush=True)
        return False
    for report in result if isinstance(result, list) else [result]:
        report.print()
    print(f"  ({name} took {time.monotonic() - start:.0f} s)", flush=True)
    return True


async def main(argv: list[str]) -> int:
    top, subs = parser()
    args = top.parse_args(argv)
    if args.scenario == "all":
        runs = []
        for name, p in subs.items():
            one = p.parse_args([])
            one.serve_args, one.keep, one.timeout = args.serve_args, args.keep, args.timeout
            if args.seconds is not None and hasattr(one, "seconds"):
                one.seconds = min(one.seconds, args.seconds)
            runs.append((name, one))
    else:
        runs = [(args.scenario, args)]
    workdir = tempfile.mkdtemp(prefix="parley-probe-")
    ok = True
    try:
        for name, one in runs:
            one.workdir = workdir
            ok = await run(name, one) and ok
    finally:
        if args.keep:
            print(f"\nservers' data dirs and logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
