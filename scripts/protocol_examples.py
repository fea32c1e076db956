"""Capture real exchanges with a Parley server, for docs/protocol.md.

Starts its own ``parley serve`` processes (on free ports, in a temporary data
directory, with the fast ``test`` password hashing), runs every command of the
protocol, and prints each frame as it goes over the wire:

    alice -> {"Type":"chat","Command":"list"}
    alice <- {"Type":"chat","Command":"list","Chats":[...]}

Run it from the repository root with the project's virtualenv:

    python scripts/protocol_examples.py            # every scenario
    python scripts/protocol_examples.py choice     # only scenarios whose name contains "choice"

Nothing here is part of the server; it only talks to it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import signal
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PIL import Image

from parley.client import Client
from parley.testing import ServerProcess

PASSWORD = "correct horse"
#: the scenarios send faster than the default rate limit allows (the limit has its own)
FAST = ("--rate-limit", "100000", "--rate-burst", "100000",
        "--chat-rate", "10000000", "--chat-burst", "100000")
Frame = dict[str, Any]


# --------------------------------------------------------------------------- servers


class Server(ServerProcess):
    """``parley serve`` on a free port, whose log is shown when something went wrong in it."""

    def stop(self, timeout: float = 20) -> int:
        code = super().stop(timeout)
        logged = self.log.read_text()
        if "Traceback" in logged or " ERROR " in logged:
            print(f"\n[server log of {self.log.parent.name}]\n{logged}")
        return code


# --------------------------------------------------------------------------- clients


def show(frame: Frame | str) -> str:
    if isinstance(frame, str):
        return frame
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def short(frame: Frame) -> Frame:
    """Long base64 and long texts shortened for printing."""
    out = dict(frame)
    for key in ("Image", "Text"):
        value = out.get(key)
        if isinstance(value, str) and len(value) > 60:
            out[key] = value[:24] + f"...({len(value)} chars)"
    return out


class Party:
    """A named client that prints what it sends and receives."""

    def __init__(self, name: str, client: Client) -> None:
        self.name = name
        self.c = client

    @classmethod
    async def open(cls, name: str, url: str) -> Party:
        return cls(name, await Client.connect(url))

    async def send(self, frame: Frame) -> None:
        print(f"{self.name} -> {show(short(frame))}")
        await self.c.send(frame)

    async def send_raw(self, data: str | bytes) -> None:
        kind = "binary" if isinstance(data, bytes) else "text"
        text = data.decode(errors="replace") if isinstance(data, bytes) else data
        if len(text) > 80:
            text = text[:40] + f"...({len(text)} chars)"
        print(f"{self.name} -> ({kind} frame) {text}")
        await self.c.send_raw(data)

    async def recv(self, timeout: float = 5.0) -> Frame:
        frame = await self.c.recv(timeout)
        print(f"{self.name} <- {show(frame)}")
        return frame

    async def drain(self, wait: float = 0.3) -> list[Frame]:
        """Print every frame that arrives until ``wait`` seconds pass in silence."""
        frames = []
        while True:
            try:
                frames.append(await self.recv(wait))
            except TimeoutError:
                return frames

    async def ask(self, frame: Frame) -> list[Frame]:
        """Send, then print everything that follows (answer and pushes)."""
        await self.send(frame)
        return await self.drain()

    async def close(self) -> None:
        await self.c.close()


async def drain_all(*parties: Party) -> None:
    for p in parties:
        await p.drain()


async def registered(name: str, url: str, login: str, quiet: bool = True) -> Party:
    """A connected client, registered as ``login`` (the exchange not printed when quiet)."""
    p = await Party.open(name, url)
    request = {"Type": "account", "Command": "registration", "Login": login,
               "Password": PASSWORD}
    if quiet:
        answer = await p.c.request(request)
        assert answer["Status"] == "success", answer
        p.c.user, p.c.token = answer["User"], answer["Token"]
    else:
        answer = (await p.ask(request))[0]
        p.c.user, p.c.token = answer["User"], answer["Token"]
    return p


async def quietly_choose(p: Party, chat: str, password: str | None = None) -> None:
    await p.c.choose(chat, password)
    while True:  # read the pushes that follow, silently
        try:
            await p.c.recv(0.3)
        except TimeoutError:
            return


def image(fmt: str = "PNG", size: tuple[int, int] = (8, 6), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def heading(title: str) -> None:
    print(f"\n### {title}\n")


# --------------------------------------------------------------------------- scenarios


async def accounts(srv: Server) -> None:
    heading("registration")
    alice = await registered("alice", srv.ws, "alice", quiet=False)
    heading("registration: failures")
    other = await Party.open("anon", srv.ws)
    for fields in ({"Login": "ALICE", "Password": PASSWORD},
                   {"Login": "", "Password": PASSWORD},
                   {"Password": PASSWORD},
                   {"Login": "x" * 33, "Password": PASSWORD},
                   {"Login": "two words", "Password": PASSWORD},
                   {"Login": "bob", "Password": "short"},
                   {"Login": "bob"},
                   {"Login": "bob", "Password": "p" * 1025}):
        await other.ask({"Type": "account", "Command": "registration", **fields})
    heading("login by password (answer, then the chat list)")
    tab = await Party.open("alice2", srv.ws)
    await tab.ask({"Type": "account", "Command": "login", "Login": "Alice",
                   "Password": PASSWORD})
    heading("login by token")
    tab3 = await Party.open("alice3", srv.ws)
    await tab3.ask({"Type": "account", "Command": "login", "Token": alice.c.token})
    heading("login failures")
    for fields in ({"Login": "alice", "Password": "wrong password"},
                   {"Login": "nobody", "Password": PASSWORD},
                   {"Token": "not-a-token"},
                   {"Login": "alice"},
                   {}):
        await other.ask({"Type": "account", "Command": "login", **fields})
    heading("logout, then the token no longer works")
    await tab3.ask({"Type": "account", "Command": "logout"})
    await tab3.ask({"Type": "account", "Command": "logout"})
    await other.ask({"Type": "account", "Command": "login", "Token": alice.c.token})
    heading("logins of any script, case-insensitive")
    ivan = await registered("ivan", srv.ws, "Иван", quiet=False)
    await other.ask({"Type": "account", "Command": "registration", "Login": "иван",
                     "Password": PASSWORD})
    for p in (alice, other, tab, tab3, ivan):
        await p.close()


async def chats(srv: Server) -> None:
    heading("anonymous chat commands")
    anon = await Party.open("anon", srv.ws)
    for command, extra in (("list", {}), ("choice", {"Chat": "general"}),
                           ("message", {"Text": "x"})):
        await anon.ask({"Type": "chat", "Command": command, **extra})

    heading("list")
    owner = await registered("owner", srv.ws, "owner")
    bob = await registered("bob", srv.ws, "bob")
    await owner.ask({"Type": "chat", "Command": "list"})

    heading("create (open chat): answer, list to every logged-in socket, Joined")
    await owner.send({"Type": "chat", "Command": "create", "Chat": "Team"})
    await drain_all(owner, bob, anon)

    heading("create (closed chat, with Password)")
    await owner.send({"Type": "chat", "Command": "create", "Chat": "secret",
                      "Password": "open sesame"})
    await drain_all(owner, bob)

    heading("create: failures")
    for fields in ({"Chat": "Team"}, {"Chat": "general"}, {"Chat": ""}, {},
                   {"Chat": "x" * 65}, {"Chat": ".."}, {"Chat": "a/b"},
                   {"Chat": "tab\there"},
                   {"Chat": "long pw", "Password": "p" * 1025}):
        await owner.ask({"Type": "chat", "Command": "create", **fields})

    heading("chat names are case-sensitive")
    await bob.send({"Type": "chat", "Command": "create", "Chat": "team"})
    await drain_all(bob, owner)

    heading("choice of an open chat: answer, then Joined")
    await quietly_choose(owner, "Team")
    await owner.send({"Type": "chat", "Command": "message", "Text": "welcome"})
    await owner.drain()
    await bob.send({"Type": "chat", "Chat": "Team", "Command": "choice"})
    await drain_all(bob, owner)

    heading("choice: missing chat")
    for fields in ({"Chat": "nope"}, {}, {"Chat": ""}):
        await bob.ask({"Type": "chat", "Command": "choice", **fields})

    heading("choice of a closed chat")
    await bob.ask({"Type": "chat", "Command": "choice", "Chat": "secret"})
    await bob.ask({"Type": "chat", "Command": "choice", "Chat": "secret",
                   "Password": "wrong one"})
    await bob.send({"Type": "chat", "Command": "choice", "Chat": "secret",
                    "Password": "open sesame"})
    await drain_all(bob, owner)
    heading("a member chooses the closed chat again without the password")
    bob2 = await Party.open("bob2", srv.ws)
    await bob2.c.login("bob", PASSWORD)
    await bob2.ask({"Type": "chat", "Command": "choice", "Chat": "secret"})
    await drain_all(bob, owner)

    for p in (anon, owner, bob, bob2):
        await p.close()


async def presence(srv: Server) -> None:
    heading("presence: Joined for the first socket of a user")
    amy = await registered("amy", srv.ws, "amy")
    await amy.c.create("room")
    await amy.drain()
    ben = await registered("ben", srv.ws, "ben")
    await ben.send({"Type": "chat", "Command": "choice", "Chat": "room"})
    await drain_all(ben, amy)
    heading("a second socket of the same user: no delta")
    ben2 = await Party.open("ben2", srv.ws)
    await ben2.c.login("ben", PASSWORD)
    await ben2.ask({"Type": "chat", "Command": "choice", "Chat": "room"})
    await amy.drain()
    heading("connected: distinct users")
    await amy.ask({"Type": "chat", "Command": "connected"})
    heading("one of two sockets closes: no delta")
    await ben2.close()
    await drain_all(amy, ben)
    heading("the user's last socket leaves the chat (choosing another): Left")
    await ben.send({"Type": "chat", "Command": "choice", "Chat": "general"})
    await drain_all(ben, amy)
    heading("logout: Left")
    carl = await registered("carl", srv.ws, "carl")
    await quietly_choose(carl, "room")
    await amy.drain()
    await carl.ask({"Type": "account", "Command": "logout"})
    await amy.drain()
    heading("the socket closes: Left")
    dora = await registered("dora", srv.ws, "dora")
    await quietly_choose(dora, "room")
    await amy.drain()
    await dora.close()
    await amy.drain()
    heading("logging in again on a socket that is in a chat leaves it: Left")
    eve = await registered("eve", srv.ws, "eve")
    await quietly_choose(eve, "room")
    await amy.drain()
    await eve.send({"Type": "account", "Command": "login", "Login": "carl",
                    "Password": PASSWORD})
    await drain_all(eve, amy)
    heading("connected without a chosen chat")
    await eve.ask({"Type": "chat", "Command": "connected"})
    for p in (amy, ben, carl, eve):
        await p.close()


async def history(srv: Server) -> None:
    heading("history: 65 messages, then choice, earlier, earlier, earlier")
    writer = await registered("writer", srv.ws, "writer")
    await writer.c.create("log")
    await writer.c.recv()
    await writer.c.recv()
    for i in range(1, 66):
        await writer.c.say(f"m{i}")
        await writer.c.recv()
    reader = await registered("reader", srv.ws, "reader")
    page = await reader.c.choose("log")
    ids = [m["id"] for m in page["Messages"]]
    print(f"reader -> choice log: ids {ids[0]}..{ids[-1]} ({len(ids)} messages)")
    print(f"reader <- first message: {show(page['Messages'][0])}")
    await reader.c.recv()  # Joined
    for before in (None, None, None, 10):
        request: Frame = {"Type": "chat", "Command": "earlier"}
        if before is not None:
            request["Before"] = before
        answer = await reader.c.request(request)
        ids = [m["id"] for m in answer["Messages"]]
        span = f"ids {ids[0]}..{ids[-1]} ({len(ids)} messages)" if ids else "[]"
        print(f"reader -> {show(request)}: {span}")
    heading("choice with After, then earlier")
    await reader.ask({"Type": "chat", "Command": "choice", "Chat": "log", "After": 62})
    answer = await reader.c.request({"Type": "chat", "Command": "earlier"})
    ids = [m["id"] for m in answer["Messages"]]
    print(f"reader -> earlier: ids {ids[0]}..{ids[-1]} ({len(ids)} messages)")
    await reader.ask({"Type": "chat", "Command": "choice", "Chat": "log", "After": 65})
    answer = await reader.c.request({"Type": "chat", "Command": "earlier"})
    ids = [m["id"] for m in answer["Messages"]]
    print(f"reader -> earlier: ids {ids[0]}..{ids[-1]} ({len(ids)} messages)")

    heading("choice with Around (a search result's context), then earlier; refusals")
    for around in (60, 3):
        request = {"Type": "chat", "Command": "choice", "Chat": "log", "Around": around}
        answer = await reader.c.request(request)
        ids = [m["id"] for m in answer["Messages"]]
        print(f"reader -> {show(request)}: ids {ids[0]}..{ids[-1]} ({len(ids)} messages),"
              f" Change {answer['Change']}")
    answer = await reader.c.request({"Type": "chat", "Command": "earlier"})
    print(f"reader -> earlier: {len(answer['Messages'])} messages")
    await reader.ask({"Type": "chat", "Command": "choice", "Chat": "log", "Around": 0})
    await reader.ask({"Type": "chat", "Command": "choice", "Chat": "log", "Around": 2, "After": 1})

    heading("empty chat: choice, a live message, earlier")
    await writer.c.create("empty")
    await writer.c.recv()
    await writer.c.recv()
    await reader.drain()
    await writer.drain()
    await reader.ask({"Type": "chat", "Command": "choice", "Chat": "empty"})
    await writer.drain()
    await writer.send({"Type": "chat", "Command": "message", "Text": "live"})
    await drain_all(writer, reader)
    await reader.ask({"Type": "chat", "Command": "earlier"})
    await writer.close()
    await reader.close()


async def messages(srv: Server) -> None:
    heading("message: text")
    a = await registered("amy", srv.ws, "amy")
    b = await registered("ben", srv.ws, "ben")
    await a.c.create("pics & more")
    await a.c.recv()
    await a.c.recv()
    await b.drain()
    await quietly_choose(b, "pics & more")
    await a.drain()
    await a.send({"Type": "chat", "Command": "message", "Text": "Hey, there is somebody?"})
    await drain_all(a, b)

    png = image()
    heading("message: image")
    await b.send({"Type": "chat", "Command": "message", "Image": b64(png)})
    await drain_all(b, a)
    print(f"(md5 of the PNG: {hashlib.md5(png).hexdigest()})")
    heading("message: image + text, data: URL prefix")
    jpeg = image("JPEG", color="blue")
    await a.send({"Type": "chat", "Command": "message", "Text": "LOL",
                  "Image": "data:image/jpeg;base64," + b64(jpeg)})
    await drain_all(a, b)
    heading("message: empty Image with Text is a text message")
    await a.send({"Type": "chat", "Command": "message", "Text": "just text", "Image": ""})
    await drain_all(a, b)
    heading("message: text of spaces only is not empty")
    await a.send({"Type": "chat", "Command": "message", "Text": "   "})
    await drain_all(a, b)

    heading("message: failures")
    for fields in ({"Image": "WW91IGEgcGlkb3IK"},
                   {"Image": "WW91IGEgcGlkb3IK", "Text": "LOL"},
                   {"Image": "not base64 at all!"},
                   {"Image": b64(image("BMP"))},
                   {}, {"Text": ""}, {"Text": "", "Image": ""},
                   {"Text": "x" * 4001},
                   {"Text": "x", "Nonce": "n" * 65},
                   {"Text": "x", "Nonce": ""}):
        await a.ask({"Type": "chat", "Command": "message", **fields})
    await b.drain()

    heading("message: not logged in / no chat chosen")
    c = await registered("carl", srv.ws, "carl")
    await c.ask({"Type": "chat", "Command": "message", "Text": "hi"})

    heading("Nonce: a retry is not stored twice")
    await a.send({"Type": "chat", "Command": "message", "Text": "once", "Nonce": "k-1"})
    await drain_all(a, b)
    await a.send({"Type": "chat", "Command": "message", "Text": "once", "Nonce": "k-1"})
    await drain_all(a, b)

    heading("delete: answer, deleted notice, list")
    await c.drain()
    await a.send({"Type": "chat", "Command": "delete"})
    await drain_all(a, b, c)
    heading("a socket still in the deleted chat")
    await b.ask({"Type": "chat", "Command": "message", "Text": "anyone?"})
    await b.ask({"Type": "chat", "Command": "earlier"})
    await b.ask({"Type": "chat", "Command": "connected"})
    await b.ask({"Type": "chat", "Command": "choice", "Chat": "pics & more"})
    await a.ask({"Type": "chat", "Command": "message", "Text": "x"})

    heading("delete: failures")
    await a.c.create("mine")
    await a.c.recv()
    await a.c.recv()
    await drain_all(b, c)
    await quietly_choose(b, "mine")
    await a.drain()
    await b.ask({"Type": "chat", "Command": "delete"})
    await b.ask({"Type": "chat", "Command": "delete", "Chat": "mine"})
    await a.ask({"Type": "chat", "Command": "delete", "Chat": "general"})
    await a.ask({"Type": "chat", "Command": "delete", "Chat": "no such chat"})
    await c.ask({"Type": "chat", "Command": "delete"})
    heading("delete by name from outside the chat")
    await quietly_choose(a, "general")
    await b.drain()
    await a.send({"Type": "chat", "Command": "delete", "Chat": "mine"})
    await drain_all(a, b, c)
    for p in (a, b, c):
        await p.close()


async def bad_input(srv: Server) -> None:
    heading("malformed frames")
    p = await registered("zed", srv.ws, "zed")
    for frame in ("{not json", "[1, 2]", "{}", '{"Type": "chat"}',
                  '{"Type": "chat", "Command": "dance"}',
                  '{"Type": "weather", "Command": "list"}',
                  '{"Type": "account", "Command": "message", "Text": "x"}',
                  '{"Type": "chat", "Command": "message", "Text": 5}',
                  '{"Type": "chat", "Command": "earlier", "Before": "x"}',
                  '{"Type": "chat", "Command": "choice", "Chat": "general", "After": -1}',
                  '{"Type": "chat", "Command": "create", "Chat": 7}',
                  '{"Type": "account", "Command": "login", "Token": null}',
                  ""):
        await p.send_raw(frame)
        await p.drain()
    await p.send_raw(b'{"Type": "chat", "Command": "list"}')
    await p.drain()
    heading("unknown keys are ignored")
    await quietly_choose(p, "general")
    await p.ask({"Type": "chat", "Command": "message", "Text": "hi", "Colour": "red",
                 "Message": {"user": "someone else"}})
    await p.close()


async def root_socket(srv: Server) -> None:
    heading("WebSocket on /")
    p = Party("root", await Client.connect(f"ws://127.0.0.1:{srv.port}/"))
    await p.ask({"Type": "chat", "Command": "list"})
    await p.close()


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def http(srv: Server) -> None:
    heading("HTTP")
    p = await registered("hana", srv.ws, "hana")
    await p.c.create("Фото 1")
    await p.c.recv()
    await p.c.recv()
    await p.c.say(image=b64(image("GIF", color="green")))
    url = (await p.c.recv())["Message"]["image"]
    await p.c.request({"Type": "chat", "Command": "message", "Image": "nope"})
    for path in (url, url[:-3] + "png", "/images/general/" + url.rsplit("/", 1)[1],
                 "/healthz", "/", "/nope", "/static/nope.js"):
        status, headers, body = await asyncio.to_thread(http_get, srv.http + path)
        keep = {k: v for k, v in headers.items()
                if k in ("Content-Type", "X-Content-Type-Options", "Content-Security-Policy",
                         "Cache-Control")}
        print(f"GET {path} -> {status} {keep} {body[:40]!r}")
    status, headers, body = await asyncio.to_thread(http_get, srv.http + "/metrics")
    print(f"GET /metrics -> {status} {headers.get('Content-Type')}")
    for line in body.decode().splitlines():
        if line.startswith("parley_"):
            print("   ", line)
    await p.close()


async def closed_by_server(p: Party) -> None:
    """Read until the server's close frame; print its code and reason."""
    import aiohttp

    while True:
        msg = await p.c.ws.receive(timeout=10)
        if msg.type is aiohttp.WSMsgType.TEXT:
            print(f"{p.name} <- {msg.data}")
            continue
        print(f"{p.name} <- close {msg.data} {msg.extra!r} ({msg.type.name})")
        return


async def limits(tmp: Path) -> None:
    heading("frame over --max-frame: close 1009")
    small = Server(tmp / "small", "--max-frame", "4096").start()
    try:
        p = await Party.open("client", small.ws)
        await p.send_raw(json.dumps({"Type": "chat", "Command": "message", "Text": "x" * 5000}))
        await closed_by_server(p)
        await p.close()
    finally:
        small.stop()

    heading("rate limit (--rate-limit 0.5 --rate-burst 3)")
    slow = Server(tmp / "slow", "--rate-limit", "0.5", "--rate-burst", "3").start()
    try:
        p = await registered("ana", slow.ws, "ana")
        await quietly_choose(p, "general")
        for i in range(4):
            await p.send({"Type": "chat", "Command": "message", "Text": f"m{i}"})
        await p.drain()
        await p.close()
    finally:
        slow.stop()

    heading("creates and deletes (--chat-rate 1 --chat-burst 2)")
    few = Server(tmp / "few", "--chat-rate", "1", "--chat-burst", "2")
    try:
        p = await registered("ana", few.ws, "ana")
        await p.send({"Type": "chat", "Command": "create", "Chat": "mine"})
        await p.drain()
        await p.send({"Type": "chat", "Command": "create", "Chat": "ours"})
        await p.drain()
        await p.ask({"Type": "chat", "Command": "create", "Chat": "one more"})
        await p.ask({"Type": "chat", "Command": "delete", "Chat": "mine"})
        await p.close()
    finally:
        few.stop()

    heading("slow consumer (--outbox-limit 65536): close 4008")
    tight = Server(tmp / "tight", "--outbox-limit", "65536", *FAST).start()
    try:
        await slow_consumer(tight)
    finally:
        tight.stop()

    heading("shutdown (SIGTERM): close 1001")
    last = Server(tmp / "last").start()
    p = await registered("una", last.ws, "una")
    last.send_signal(signal.SIGTERM)
    await closed_by_server(p)
    await p.close()
    print(f"server exit code {last.stop()}")


#: enough to fill the kernel's socket buffers and then the outbox limit
SLOW_MESSAGES = 3000


async def slow_consumer(srv: Server) -> None:
    """A raw socket that logs in and chooses general, then stops reading for a while."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    for request in ({"Type": "account", "Command": "registration", "Login": "sloth",
                     "Password": PASSWORD},
                    {"Type": "chat", "Command": "choice", "Chat": "general"}):
        payload = json.dumps(request).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    await asyncio.sleep(0.5)
    sender = await registered("fast", srv.ws, "fast")
    await sender.c.choose("general")
    text = "x" * 4000
    for _ in range(SLOW_MESSAGES):
        await sender.c.say(text)
    await asyncio.sleep(0.5)

    def read_all() -> bytes:
        sock.settimeout(5)
        data = b""
        try:
            while chunk := sock.recv(1 << 16):
                data += chunk
        except (TimeoutError, ConnectionError):
            pass
        return data

    data = await asyncio.to_thread(read_all)
    sock.close()
    code, reason = last_close(data)
    print(f"fast sent {SLOW_MESSAGES} messages of 4,000 characters while sloth did not read")
    print(f"sloth <- close {code} {reason!r} (after {len(data)} bytes)")
    await sender.close()


def last_close(data: bytes) -> tuple[int | None, bytes]:
    """The close code and reason of the close frame in a raw server stream."""
    i = 0
    close: tuple[int | None, bytes] = (None, b"")
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length = int.from_bytes(data[i:i + 2], "big")
            i += 2
        elif length == 127:
            length = int.from_bytes(data[i:i + 8], "big")
            i += 8
        payload = data[i:i + length]
        i += length
        if opcode == 0x8:
            close = (int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None,
                     payload[2:])
    return close


async def list_changes(srv: Server) -> None:
    heading("ListChanges: the whole list after login, then deltas")
    alice = await registered("alice", srv.ws, "alice")
    bob = await Party.open("bob", srv.ws)
    await bob.ask({"Type": "account", "Command": "registration", "Login": "bob",
                   "Password": PASSWORD, "ListChanges": True})
    carl = await registered("carl", srv.ws, "carl")
    await carl.ask({"Type": "account", "Command": "login", "Login": "carl",
                    "Password": PASSWORD, "ListChanges": True})
    await alice.send({"Type": "chat", "Command": "create", "Chat": "Team"})
    await drain_all(alice, bob, carl)
    await bob.ask({"Type": "chat", "Command": "list"})
    await alice.send({"Type": "chat", "Command": "delete", "Chat": "Team"})
    await drain_all(alice, bob, carl)
    for p in (alice, bob, carl):
        await p.close()


async def changes(srv: Server) -> None:
    heading("edit, react, reply, remove: the broadcast is the answer")
    alice = await registered("alice", srv.ws, "alice")
    bob = await registered("bob", srv.ws, "bob")
    await quietly_choose(alice, "general")
    await quietly_choose(bob, "general")
    await drain_all(alice, bob)
    await alice.send({"Type": "chat", "Command": "message", "Text": "hello @bob"})
    await drain_all(alice, bob)
    await alice.send({"Type": "chat", "Command": "edit", "Id": 1, "Text": "hello there"})
    await drain_all(alice, bob)
    await bob.send({"Type": "chat", "Command": "react", "Id": 1, "Emoji": "👍"})
    await drain_all(bob, alice)
    await alice.send({"Type": "chat", "Command": "react", "Id": 1, "Emoji": "👍"})
    await drain_all(alice, bob)
    await bob.send({"Type": "chat", "Command": "message", "Text": "hi", "Reply": 1})
    await drain_all(bob, alice)
    heading("changes: failures")
    await bob.ask({"Type": "chat", "Command": "edit", "Id": 1, "Text": "mine now"})
    await bob.ask({"Type": "chat", "Command": "remove", "Id": 1})
    await bob.ask({"Type": "chat", "Command": "edit", "Id": 9, "Text": "x"})
    await bob.ask({"Type": "chat", "Command": "react", "Id": 1, "Emoji": "ok"})
    await bob.ask({"Type": "chat", "Command": "message", "Text": "x", "Reply": 9})
    heading("remove: a tombstone in history")
    await alice.send({"Type": "chat", "Command": "remove", "Id": 1})
    await drain_all(alice, bob)
    await bob.ask({"Type": "chat", "Command": "choice", "Chat": "general"})
    heading("choice with After and Changes")
    await bob.ask({"Type": "chat", "Command": "choice", "Chat": "general", "After": 1,
                   "Changes": 1})
    await alice.close()
    await bob.close()


SCENARIOS: dict[str, Callable[[Server], Awaitable[None]]] = {
    "accounts": accounts,
    "chats": chats,
    "list_changes": list_changes,
    "presence": presence,
    "history": history,
    "messages": messages,
    "changes": changes,
    "bad_input": bad_input,
    "root_socket": root_socket,
    "http": http,
}


async def main(wanted: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="parley-protocol-") as tmp:
        root = Path(tmp)
        for name, scenario in SCENARIOS.items():
            if wanted and not any(w in name for w in wanted):
                continue
            srv = Server(root / name, *FAST).start()
            try:
                print(f"\n## {name}")
                await scenario(srv)
            finally:
                srv.stop()
        if not wanted or any(w in "limits" for w in wanted):
            print("\n## limits")
            await limits(root)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
