"""Memory per idle WebSocket connection, for candidate servers of ``/ws``.

Every candidate is the same minimal echo server (a text frame comes back as a
text frame; nothing else is kept per socket than what the library keeps), so
the difference between them is the WebSocket layer's own per-socket state,
which is what an idle connection costs. Each server runs in a process of its
own on core 0; this driver is the client, on core 1, with plain blocking
sockets, so the client's memory never counts. Per connection: the upgrade,
one masked text frame, its echo; then the socket stays open and idle.

    cd bench && ../.venv/bin/python -m parley_bench.ws_memory --n 10000

reports, per engine, the server's RSS after the N sockets minus its RSS
before them (one warm-up socket opened and closed first), divided by N; and
in a second run of the same server with ``tracemalloc`` on, the Python heap's
growth divided by N (C-level state such as picows' or uvloop's is not seen
there: it shows only in RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, cast

BENCH = Path(__file__).resolve().parent.parent
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ENGINES = ("aiohttp", "picows", "picows-1k", "protocol", "websockets-sansio", "wsproto", "node-ws")
#: Parley itself, with each engine: sockets logged in and in chats of ROOM
PARLEY = ("parley-aiohttp", "parley-lean")
ROOM = 100
PARLEY_FLAGS = ("--argon2-profile", "test", "--max-connections-per-ip", "0",
                "--rate-limit", "100000", "--rate-burst", "100000", "--login-rate", "100000",
                "--login-burst", "100000", "--chat-rate", "10000000", "--chat-burst", "100000",
                "--heartbeat", "0")

NODE_SERVER = r"""
const http = require('node:http');
const { WebSocketServer } = require('ws');
const server = http.createServer((_q, s) => { s.writeHead(404); s.end(); });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
});
process.on('SIGUSR2', () => {
  if (global.gc) global.gc();
  console.log(JSON.stringify({ traced: 0 }));
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[1]), backlog: 4096 },
  () => console.log('ready'));
"""


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())  # RFC 6455's accept key


def text_frame(payload: bytes) -> bytes:
    return struct.pack("!BB", 0x81, len(payload)) + payload


# --- the servers ----------------------------------------------------------


async def serve_aiohttp(port: int) -> None:
    """aiohttp as Parley uses it: the same WebSocketResponse settings, a handler
    coroutine per socket, writes straight to the transport."""
    from aiohttp import WSMsgType, web

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20, timeout=2.0, compress=False,
                                   autoping=False, decode_text=False)
        await ws.prepare(request)
        transport = request.transport
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and transport is not None:
                transport.write(text_frame(msg.data))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()


async def serve_picows(port: int, read_buffer: int) -> None:
    """picows: the frame parser and per-socket state in Cython."""
    import picows

    class Echo(picows.WSListener):  # type: ignore[misc]  # (Any when not installed)
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == picows.WSMsgType.TEXT:
                transport.send(picows.WSMsgType.TEXT, frame.get_payload_as_bytes())
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    await picows.ws_create_server(lambda _request: Echo(), "127.0.0.1", port,
                                  read_buffer_init_size=read_buffer, max_frame_size=1 << 20,
                                  backlog=4096)


class Plain(asyncio.Protocol):
    """A WebSocket on a bare asyncio Protocol: the upgrade and a frame parser of
    our own. Per socket: this object, its transport, and a buffer only while a
    frame is incomplete."""

    __slots__ = ("buf", "open", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        assert self.transport is not None
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            key = b""
            for line in buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                                 + accept_key(key) + b"\r\n\r\n")
            self.open = True
            buf = buf[end + 4:]
        while len(buf) >= 6:
            n = buf[1] & 0x7F
            at = 2
            if n == 126:
                (n,) = struct.unpack_from("!H", buf, 2)
                at = 4
            elif n == 127:
                (n,) = struct.unpack_from("!Q", buf, 2)
                at = 10
            if len(buf) < at + 4 + n:
                break
            mask = buf[at:at + 4]
            body = buf[at + 4:at + 4 + n]
            keys = (mask * (n // 4 + 1))[:n]
            payload = (int.from_bytes(body, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
            if buf[0] & 0x0F == 1:
                self.transport.write(text_frame(payload))
            elif buf[0] & 0x0F == 8:
                self.transport.write(b"\x88\x00")
                self.transport.close()
            buf = buf[at + 4 + n:]
        self.buf = buf


class SansIO(asyncio.Protocol):
    """websockets' sans-I/O ServerProtocol driven by a bare asyncio Protocol."""

    def __init__(self) -> None:
        from websockets.server import ServerProtocol
        self.ws = ServerProtocol(max_size=1 << 20)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Request
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                ws.send_response(ws.accept(event))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                ws.send_text(event.data)
        assert self.transport is not None
        for chunk in ws.data_to_send():
            if chunk:
                self.transport.write(chunk)


class WsprotoProtocol(asyncio.Protocol):
    """wsproto's WSConnection driven by a bare asyncio Protocol."""

    def __init__(self) -> None:
        from wsproto import ConnectionType, WSConnection
        self.ws = WSConnection(ConnectionType.SERVER)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage
        ws = self.ws
        assert self.transport is not None
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Request):
                self.transport.write(ws.send(AcceptConnection()))
            elif isinstance(event, TextMessage):
                self.transport.write(ws.send(TextMessage(data=event.data)))
            elif isinstance(event, CloseConnection):
                self.transport.write(ws.send(event.response()))


async def serve(engine: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def report() -> None:
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        print(json.dumps({"traced": traced}), flush=True)

    loop.add_signal_handler(signal.SIGUSR2, report)

    def done() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, done)
    if engine == "aiohttp":
        await serve_aiohttp(port)
    elif engine.startswith("picows"):
        await serve_picows(port, 1024 if engine == "picows-1k" else 16384)
    else:
        factories = {"protocol": Plain, "websockets-sansio": SansIO, "wsproto": WsprotoProtocol}
        factory = factories[engine]
        await loop.create_server(factory, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    await stop


# --- the driver (the client) ------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_socket(port: int, *, echo: bool = True) -> socket.socket:
    """The upgrade, one masked text frame, its echo; the socket is left open."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                 + key + b"\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the upgrade")
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101") or accept_key(key) not in head:
        raise RuntimeError(f"bad upgrade: {head!r}")
    if not echo:
        return sock
    mask = os.urandom(4)
    payload = b"hello"
    sock.sendall(b"\x81" + bytes([0x80 | len(payload)]) + mask
                 + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    while len(data) < 2 + len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed before the echo")
        data += chunk
    if data != b"\x81\x05hello":
        raise RuntimeError(f"bad echo: {data!r}")
    return sock


def read_frame(sock: socket.socket, buf: bytearray) -> bytes:
    """One whole unmasked server frame's payload (``buf`` keeps what follows it)."""
    while True:
        if len(buf) >= 2:
            n, at = buf[1] & 0x7F, 2
            if n == 126 and len(buf) >= 4:
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127 and len(buf) >= 10:
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if (n < 126 or at > 2) and len(buf) >= at + n:
                payload = bytes(buf[at:at + n])
                del buf[:at + n]
                return payload
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk


def request(sock: socket.socket, buf: bytearray, body: dict[str, Any]) -> dict[str, Any]:
    """Send one request; its answer (pushes before it are read and dropped)."""
    payload = json.dumps(body).encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    while True:
        answer: dict[str, Any] = json.loads(read_frame(sock, buf))
        if answer.get("Command") == body["Command"] and (
                "Status" in answer or answer.get("Chat") == body.get("Chat")):
            return answer


def parley_socket(port: int, i: int) -> socket.socket:
    """A user registered, logged in and in chat ``i // ROOM`` (the first creates it)."""
    sock = open_socket(port, echo=False)
    buf = bytearray()
    login = f"idle{i}"
    request(sock, buf, {"Type": "account", "Command": "registration", "Login": login,
                        "Password": "idle-password"})
    answer = request(sock, buf, {"Type": "account", "Command": "login", "Login": login,
                                 "Password": "idle-password"})
    assert answer["Status"] == "success", answer
    chat = f"room{i // ROOM}"
    if i % ROOM == 0:
        request(sock, buf, {"Type": "chat", "Command": "create", "Chat": chat})
    request(sock, buf, {"Type": "chat", "Command": "choice", "Chat": chat})
    return sock


def start(engine: str, port: int, traced: bool) -> subprocess.Popen[str]:
    if engine in PARLEY:
        data = Path(f"/tmp/parley-ws-memory-{os.getpid()}-{engine}")
        subprocess.run(["rm", "-rf", str(data)], check=True)
        cmd = [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir",
               str(data), "--ws-engine", engine.split("-")[1], *PARLEY_FLAGS]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                return proc
        raise RuntimeError(f"{engine} did not start")
    if engine == "node-ws":
        cmd = ["node", "--expose-gc", "-e", NODE_SERVER, str(port)]
    else:
        cmd = [sys.executable, "-m", "parley_bench.ws_memory", "serve", engine, str(port)]
        if traced:
            cmd.append("--tracemalloc")
    proc = subprocess.Popen(cmd, cwd=BENCH, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{engine} did not start")
    return proc


def settle(proc: subprocess.Popen[str], parley: bool) -> int:
    """A full collection in the server, then its traced heap (0 when not tracing)."""
    time.sleep(0.5)
    if parley:
        time.sleep(2.5)  # Parley has no collection signal: its own timers settle
        return 0
    proc.send_signal(signal.SIGUSR2)
    assert proc.stdout is not None
    answer: int = json.loads(proc.stdout.readline())["traced"]
    time.sleep(0.2)
    return answer


def measure(engine: str, n: int, port: int, traced: bool) -> dict[str, float]:
    proc = start(engine, port, traced)
    try:
        parley = engine in PARLEY

        def connect(i: int) -> socket.socket:
            return parley_socket(port, i) if parley else open_socket(port)

        connect(n).close()
        heap0 = settle(proc, parley)
        rss0 = rss_kb(proc.pid)
        socks = [connect(i) for i in range(n)]
        heap1 = settle(proc, parley)
        rss1 = rss_kb(proc.pid)
        for sock in socks:
            sock.close()
        return {"rss_kb": (rss1 - rss0) / n, "heap_kb": (heap1 - heap0) / 1024 / n,
                "rss_total_mb": rss1 / 1024}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve")
    srv.add_argument("engine", choices=ENGINES)
    srv.add_argument("port", type=int)
    srv.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--port", type=int, default=18_765)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.command == "serve":
        if args.tracemalloc:
            tracemalloc.start()
        import uvloop
        uvloop.run(serve(args.engine, args.port))
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})
    print(f"| engine | RSS KB / socket (N={args.n:,}) | Python heap KB / socket "
          f"(tracemalloc) | server RSS MB with N |")
    print("|---|---:|---:|---:|")
    for engine in args.engines.split(","):
        rss = [measure(engine, args.n, args.port, False) for _ in range(args.repeats)]
        best = min(rss, key=lambda r: r["rss_kb"])
        heap = ("" if engine == "node-ws" or engine in PARLEY
                else f"{measure(engine, args.n, args.port, True)['heap_kb']:.2f}")
        spread = ", ".join(f"{r['rss_kb']:.2f}" for r in rss)
        print(f"| {engine} | {best['rss_kb']:.2f} ({spread}) | {heap} "
              f"| {best['rss_total_mb']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
