"""The HTTP edge, over real TCP: deadlines for request heads, connections per address,
refusals that end the connection, proxies, the page's headers, quiet logs for garbage,
the modes of what the server creates, who may read /metrics.

Nothing here reaches the database, so these servers run on SQLite alone. New settings
are given as ``PARLEY_*`` variables, which a server without them ignores.
"""

from __future__ import annotations

import asyncio
import os
import resource
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as redis_client

from conftest import PASSWORD, REDIS_URL, ServerProcess, unavailable, unique

UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")

#: a bound on waiting for the server to act, far above any deadline under test
PATIENCE = 20.0


class Servers:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[ServerProcess] = []

    def __call__(self, *args: str, **env: str) -> ServerProcess:
        proc = ServerProcess(self.root / f"data{len(self.made)}", *args,
                             env={f"PARLEY_{k.upper()}": v for k, v in env.items()})
        self.made.append(proc)
        return proc.start()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Servers]:
    servers = Servers(tmp_path)
    yield servers
    for proc in servers.made:
        if proc.alive():
            proc.stop()


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def dial(proc: ServerProcess, source: str = "127.0.0.1") -> Stream:
    return await asyncio.open_connection("127.0.0.1", proc.port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as a close)."""
    data = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), PATIENCE):
            data += chunk
    except ConnectionResetError:
        pass
    return data


async def answer(stream: Stream, request: str) -> tuple[str, dict[str, str], bytes]:
    """Send one request; the status line, headers and body of the answer (by Content-Length)."""
    reader, writer = stream
    writer.write(request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


async def get(proc: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(proc.http + path) as response:
        return response.status, dict(response.headers), await response.read()


def fds(proc: ServerProcess) -> int:
    assert proc.proc is not None
    return len(os.listdir(f"/proc/{proc.proc.pid}/fd"))


# --- deadlines --------------------------------------------------------------------------


async def test_a_head_that_does_not_arrive_in_time_is_cut(serve: Servers) -> None:
    proc = serve(head_timeout="1")
    silent = await dial(proc)
    slow = await dial(proc)
    slow[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        while not slow[1].is_closing():
            slow[1].write(b"X-More: 1\r\n")  # always a little more, never the end
            await asyncio.sleep(0.2)

    task = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(silent[0]) == b""
        assert await closed_by_server(slow[0]) == b""
    finally:
        task.cancel()
        for _, writer in (silent, slow):
            writer.close()


async def test_an_idle_keep_alive_connection_is_cut(serve: Servers) -> None:
    proc = serve(head_timeout="1")
    stream = await dial(proc)
    status, headers, body = await answer(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ok\n")
    assert headers.get("connection", "keep-alive").lower() == "keep-alive"
    # served again on the same connection, then left idle: the server closes it
    status, _, body = await answer(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ok\n")
    assert await closed_by_server(stream[0]) == b""
    stream[1].close()
    # the second head of a connection must come in time too
    slow = await dial(proc)
    status, _, _ = await answer(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    slow[1].write(b"GET /healthz HTTP/1.1\r\n")

    async def trickle() -> None:
        while not slow[1].is_closing():
            slow[1].write(b"X-More: 1\r\n")
            await asyncio.sleep(0.2)

    task = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(slow[0]) == b""
    finally:
        task.cancel()
        slow[1].close()


async def test_a_socket_outlives_the_head_deadline(serve: Servers) -> None:
    proc = serve(head_timeout="0.5")
    async with aiohttp.ClientSession() as http, http.ws_connect(proc.ws) as ws:
        await asyncio.sleep(1.5)  # three deadlines: they are about heads, not sockets
        await ws.send_str('{"Type":"chat","Command":"list"}')
        message = await ws.receive(timeout=PATIENCE)
        assert message.json() == {"Type": "chat", "Command": "list",
                                  "Status": "error in chat or user"}


async def test_the_deadline_holds_with_several_processes(serve: Servers) -> None:
    """``--workers``: every process is gated the same way."""
    redis = redis_client.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await redis.ping()
    except Exception:
        unavailable(f"Redis at {REDIS_URL}")
    finally:
        await redis.aclose()
    proc = serve("--workers", "2", "--redis-url", REDIS_URL,
                 "--redis-prefix", f"edge{os.getpid()}", head_timeout="1")
    streams = [await dial(proc) for _ in range(4)]  # the kernel spreads them over both
    for reader, _ in streams:
        assert await closed_by_server(reader) == b""
    status, _, body = await get(proc, "/healthz")
    assert (status, body) == (200, b"ok\n")
    for _, writer in streams:
        writer.close()


# --- connections per address ------------------------------------------------------------


#: TCP connections an address may have beyond --max-connections-per-ip
HEADROOM = 16


async def test_connections_per_address_are_capped(serve: Servers) -> None:
    proc = serve(max_connections_per_ip="3")
    held = [await dial(proc) for _ in range(3 + HEADROOM)]  # silent HTTP connections count
    over = await dial(proc)
    assert await closed_by_server(over[0]) == b""     # closed at once, nothing read
    over[1].close()
    # another address is not affected
    other = await dial(proc, "127.0.0.2")
    status, _, body = await answer(other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ok\n")
    other[1].close()
    # one of them ends: its place is free again
    status, _, _ = await answer(held[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert await closed_by_server(held[0][0]) == b""
    served = None
    for _ in range(100):  # the server may take a moment to count the close
        again = await dial(proc)
        again[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = await closed_by_server(again[0])
        again[1].close()
        if reply:
            served = reply
            break
        await asyncio.sleep(0.05)
    assert served is not None
    assert served.startswith(b"HTTP/1.1 200 OK")
    for _, writer in held:
        writer.close()


async def test_refusals_end_the_connection(serve: Servers) -> None:
    """Behind a trusted proxy: sockets are counted per forwarded address, and a refused
    upgrade (429, or 403 for a foreign Origin) is answered with Connection: close."""
    proc = serve(max_connections_per_ip="1", trusted_proxy="127.0.0.1")
    first = await dial(proc)
    status, _, _ = await answer(first, UPGRADE + "X-Forwarded-For: 10.0.0.1\r\n\r\n")
    assert status == "HTTP/1.1 101 Switching Protocols"

    again = await dial(proc)
    status, headers, body = await answer(again, UPGRADE + "X-Forwarded-For: 10.0.0.1\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 429 Too Many Requests",
                              b"too many connections from your address\n")
    assert headers["connection"] == "close"
    assert await closed_by_server(again[0]) == b""

    # a forged entry to the left of the proxy's own does not help
    forged = await dial(proc)
    status, _, _ = await answer(forged, UPGRADE + "X-Forwarded-For: 10.0.0.9, 10.0.0.1\r\n\r\n")
    assert status == "HTTP/1.1 429 Too Many Requests"

    # another client behind the same proxy
    other = await dial(proc)
    status, _, _ = await answer(other, UPGRADE + "X-Forwarded-For: 10.0.0.2\r\n\r\n")
    assert status == "HTTP/1.1 101 Switching Protocols"

    foreign = await dial(proc)
    status, headers, _ = await answer(
        foreign, UPGRADE + "X-Forwarded-For: 10.0.0.3\r\nOrigin: https://evil.example\r\n\r\n")
    assert status == "HTTP/1.1 403 Forbidden"
    assert headers["connection"] == "close"
    assert await closed_by_server(foreign[0]) == b""
    for _, writer in (first, again, forged, other, foreign):
        writer.close()


async def test_logins_are_throttled_per_forwarded_address(serve: Servers) -> None:
    proc = serve("--login-rate", "0.01", "--login-burst", "1", trusted_proxy="127.0.0.1")

    async def register(forwarded_for: str) -> str:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                proc.ws, headers={"X-Forwarded-For": forwarded_for}) as ws:
            await ws.send_json({"Type": "account", "Command": "registration",
                                "Login": unique(), "Password": PASSWORD})
            return str((await ws.receive_json(timeout=PATIENCE))["Status"])

    assert await register("10.0.0.1") == "success"
    assert await register("10.0.0.1") == "rate limited"  # its next token is 100 s away
    assert await register("10.0.0.2") == "success"       # another client of the proxy


async def test_forwarded_for_is_ignored_from_other_peers(serve: Servers) -> None:
    proc = serve(max_connections_per_ip="1", trusted_proxy="10.1.2.3")
    first = await dial(proc, "127.0.0.3")
    status, _, _ = await answer(first, UPGRADE + "X-Forwarded-For: 10.0.0.1\r\n\r\n")
    assert status == "HTTP/1.1 101 Switching Protocols"
    # not from the proxy: its header is not believed, and its address already has a socket
    second = await dial(proc, "127.0.0.3")
    status, headers, _ = await answer(second, UPGRADE + "X-Forwarded-For: 10.0.0.2\r\n\r\n")
    assert status == "HTTP/1.1 429 Too Many Requests"
    assert headers["connection"] == "close"
    assert await closed_by_server(second[0]) == b""
    for _, writer in (first, second):
        writer.close()


@pytest.mark.resources
async def test_refused_connections_hold_no_file_handles(serve: Servers) -> None:
    direct = serve(max_connections_per_ip="1")
    proxied = serve(max_connections_per_ip="1", trusted_proxy="127.0.0.1")
    for proc, forwarded in ((direct, ""), (proxied, "X-Forwarded-For: 10.0.0.1\r\n")):
        first = await dial(proc)
        status, _, _ = await answer(first, UPGRADE + forwarded + "\r\n")
        assert status == "HTTP/1.1 101 Switching Protocols"
        before = fds(proc)
        refused = []
        for _ in range(300):
            stream = await dial(proc)
            stream[1].write((UPGRADE + forwarded + "\r\n").encode())
            reply = await closed_by_server(stream[0])   # the client keeps its end open
            assert reply.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), reply[:40]
            refused.append(stream)
        held = fds(proc) - before
        assert held < 30, f"{held} file handles held after 300 refused upgrades"
        for _, writer in [first, *refused]:
            writer.close()


@pytest.mark.resources
async def test_health_answers_while_one_address_floods(serve: Servers) -> None:
    proc = serve(max_connections_per_ip="50")
    cap = 50 + HEADROOM
    before = fds(proc)
    flood = []
    for _ in range(400):
        flood.append(await dial(proc))
    # those over the cap are closed at once; the server keeps the others
    assert [await closed_by_server(reader) for reader, _ in flood[cap:]] == [b""] * (400 - cap)
    held = fds(proc) - before
    assert held <= cap + 10, f"{held} file handles held by 400 silent connections"
    health = await dial(proc, "127.0.0.2")
    status, _, body = await answer(health, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ok\n")
    for _, writer in [*flood, health]:
        writer.close()


def test_open_files_limit_is_raised(serve: Servers) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 2048:
        pytest.fail(f"this test needs a finite hard limit of 2048 or more, not {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard // 2, hard))  # the server inherits it
    try:
        proc = serve()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert proc.proc is not None
    limits = Path(f"/proc/{proc.proc.pid}/limits").read_text().splitlines()
    line = next(line for line in limits if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)]
    assert f"open files limit: {hard}" in proc.log.read_text()


# --- what is answered -------------------------------------------------------------------


PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'")


async def test_the_page_has_a_content_security_policy(serve: Servers) -> None:
    proc = serve()
    status, headers, _ = await get(proc, "/")
    assert status == 200
    assert headers["Content-Security-Policy"] == PAGE_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-cache"


async def test_a_malformed_request_is_one_line_in_the_log(serve: Servers) -> None:
    proc = serve()
    for request in (b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):
        reader, writer = await dial(proc)
        writer.write(request)
        reply = await closed_by_server(reader)
        assert reply.split(b"\r\n")[0] in (b"HTTP/1.0 400 Bad Request",
                                             b"HTTP/1.1 400 Bad Request"), (request, reply)
        writer.close()
    log = proc.log.read_text()
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if "malformed HTTP request from 127.0.0.1" in line]
    assert len(lines) == 3, log


async def test_metrics_can_be_kept_to_some_addresses(serve: Servers) -> None:
    closed = serve(metrics_allow="10.0.0.0/8, 192.0.2.1")
    status, _, body = await get(closed, "/metrics")
    assert (status, body) == (403, b"metrics are not served to your address\n")
    assert (await get(closed, "/healthz"))[0] == 200
    open_ = serve(metrics_allow="127.0.0.0/8")
    status, _, body = await get(open_, "/metrics")
    assert status == 200
    assert b"parley_connections" in body


def test_what_the_server_creates_is_private(serve: Servers, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "data"
    serve("--data-dir", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "parley.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((fresh / "images").stat().st_mode) == 0o700
    # a directory the admin made keeps the mode the admin gave it
    made = tmp_path / "made"
    made.mkdir()
    made.chmod(0o750)
    serve("--data-dir", str(made))
    assert stat.S_IMODE(made.stat().st_mode) == 0o750
    assert stat.S_IMODE((made / "parley.db").stat().st_mode) == 0o600
