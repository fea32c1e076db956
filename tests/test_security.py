"""What Parley defends against: foreign pages, polyglot files, old tokens, leaky logs."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from conftest import PASSWORD, Connect, MakeServer, ServerProcess, room, user
from images_data import GIF, JPEG, PNG, WEBP, b64

FAILED = {"Type": "chat", "Command": "message", "Status": "failed to attach image"}


async def _open(url: str, origin: str | None) -> int:
    """The HTTP status of a WebSocket handshake sent with this Origin (101 when accepted)."""
    headers = {} if origin is None else {"Origin": origin}
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101


async def test_origins(make_server: MakeServer) -> None:
    proc = make_server("--allowed-origins", "https://chat.example.org, https://other.example")
    own = f"http://127.0.0.1:{proc.port}"
    for origin, status in (
        (None, 101),                          # not a browser page
        (own, 101),                           # the server's own page
        ("http://localhost:3000", 101),       # a local development page
        ("http://127.0.0.1:9999", 101),
        ("https://chat.example.org", 101),    # configured
        ("https://other.example/", 101),
        ("https://evil.example", 403),
        ("http://chat.example.org", 403),     # not the configured scheme
        ("https://chat.example.org.evil.example", 403),
        ("null", 403),
        ("not a url at all", 403),
    ):
        assert await _open(proc.ws, origin) == status, origin


async def test_polyglots_are_refused(connect: Connect) -> None:
    _, (a, b) = await room(connect, 2)
    script = b"<script>alert(document.cookie)</script>"
    for picture in (PNG, JPEG, GIF, WEBP):
        for extra in (script, b"PK\x03\x04zip", b"\x00"):
            assert await a.request(
                {"Type": "chat", "Command": "message", "Image": b64(picture + extra)}) == FAILED
    assert await a.request({"Type": "chat", "Command": "message",
                            "Image": b64(b"GIF89a" + script)}) == FAILED
    assert await b.silent()


async def test_tokens_expire(make_server: MakeServer, connect: Connect) -> None:
    proc = make_server("--token-days", str(1.5 / 86400))  # a second and a half
    client = await user(connect, proc.ws)
    fresh = await connect(proc.ws)
    assert (await fresh.login(token=client.token))["Status"] == "success"
    await asyncio.sleep(2)
    late = await connect(proc.ws)
    assert await late.login(token=client.token) == {
        "Type": "account", "Command": "login", "Status": "error"}
    # a password login gives a new token that works
    assert (await late.login(client.user, PASSWORD))["Status"] == "success"


async def test_logs_are_json_and_hold_no_secret(make_server: MakeServer,
                                                connect: Connect) -> None:
    proc = make_server("--log-format", "json", "--log-level", "DEBUG")
    secret = "a very secret password"
    client = await connect(proc.ws)
    answer = await client.register("logcheck", secret)
    token = answer["Token"]
    other = await connect(proc.ws)
    await other.login("logcheck", "a wrong password")
    await other.login(token=token)
    await client.send_raw("{not json")
    await client.recv()
    await client.request({"Type": "chat", "Command": "choice", "Chat": "general"})
    await client.say("hello")
    await client.recv()
    assert proc.stop() == 0
    text = proc.log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
    for forbidden in (secret, "a wrong password", token):
        assert forbidden not in text


async def test_no_request_path_reads_outside_the_store(server: ServerProcess) -> None:
    proc = server
    async with aiohttp.ClientSession() as http:
        for path in ("/images/general/..%2F..%2Fparley.db", "/images/%2e%2e/%2e%2e/parley.db",
                     "/static/%2e%2e/%2e%2e/parley.db", "/static/../../../etc/passwd",
                     "/images/general/../../../../etc/passwd"):
            async with http.get(proc.http + path) as response:
                assert response.status in (403, 404), path
                body = await response.read()
                assert b"SQLite format" not in body
                assert b"root:" not in body


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", "\x00", "x" * 65])
async def test_odd_chat_names_are_refused_cleanly(connect: Connect, name: str) -> None:
    owner = await user(connect)
    answer = await owner.create(name)
    assert answer["Status"] == "error"
    assert answer["Command"] == "create"
    assert (await owner.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_a_user_cannot_speak_for_another(connect: Connect) -> None:
    _, (a, b) = await room(connect, 2)
    await a.send({"Type": "chat", "Command": "message", "Text": "hi", "User": b.user,
                  "Login": b.user})
    frame = await b.recv()
    assert frame["Message"]["user"] == a.user
