"""The HTTP side: the page, health, metrics, images, and the WebSocket on `/`."""

from __future__ import annotations

import json

import aiohttp

from conftest import Connect, MakeServer, ServerProcess, room
from images_data import JPEG, PNG, b64, md5
from parley.client import Client


async def get(server: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(server.http + path) as response:
        return response.status, dict(response.headers), await response.read()


async def test_index_is_html(server: ServerProcess) -> None:
    status, headers, body = await get(server, "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"<html" in body.lower() or b"<!doctype html" in body.lower()


async def test_web_client_files_are_revalidated(server: ServerProcess) -> None:
    for path in ("/", "/static/app.js", "/static/style.css"):
        status, headers, _ = await get(server, path)
        assert status == 200, path
        assert headers["Cache-Control"] == "no-cache", path


async def test_websocket_on_root_too(server: ServerProcess) -> None:
    client = await Client.connect(f"ws://127.0.0.1:{server.port}/")
    try:
        assert await client.request({"Type": "chat", "Command": "list"}) == {
            "Type": "chat", "Command": "list", "Status": "error in chat or user"}
    finally:
        await client.close()


async def test_healthz(server: ServerProcess) -> None:
    status, _, body = await get(server, "/healthz")
    assert (status, body) == (200, b"ok\n")


async def test_limits(server: ServerProcess, make_server: MakeServer) -> None:
    status, headers, body = await get(server, "/limits")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert json.loads(body) == {
        "max_frame": 8388608, "max_image_bytes": 5242880, "max_image_pixels": 40000000,
        "image_types": ["image/png", "image/jpeg", "image/gif", "image/webp"],
        "max_text": 4000, "max_nonce": 64, "max_login": 32, "min_password": 8,
        "max_password": 1024, "max_chat_name": 64}
    small = make_server("--max-image-bytes", "102400", "--max-frame", "200000")
    _, _, body = await get(small, "/limits")
    assert json.loads(body)["max_image_bytes"] == 102400
    assert json.loads(body)["max_frame"] == 200000


async def test_metrics_count_what_happened(fresh_server: ServerProcess, connect: Connect) -> None:
    _, (a, b) = await room(connect, 2, url=fresh_server.ws)
    await a.say("one")
    await a.recv()
    await b.recv()
    await a.request({"Type": "chat", "Command": "message", "Image": "nope"})
    status, headers, body = await get(fresh_server, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert "parley_connections 2.0" in text
    assert "parley_messages_stored_total 1.0" in text
    assert 'parley_errors_total{status="failed to attach image"} 1.0' in text
    # 2 for the message, plus the presence and list pushes of setting up the room
    delivered = [line for line in text.splitlines() if line.startswith("parley_deliveries_total")]
    assert delivered
    assert float(delivered[0].split()[1]) >= 2


async def test_image_is_served_with_its_type(connect: Connect, server: ServerProcess) -> None:
    name, (a,) = await room(connect, 1)
    await a.say(image=b64(JPEG))
    url = (await a.recv())["Message"]["image"]
    assert url == f"/images/{name}/{md5(JPEG)}.jpg"
    status, headers, body = await get(server, url)
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == JPEG


async def test_image_paths_that_do_not_exist(connect: Connect, server: ServerProcess) -> None:
    name, (a,) = await room(connect, 1)
    await a.say(image=b64(PNG))
    url = (await a.recv())["Message"]["image"]
    good = url.rsplit("/", 1)[1]
    for path in (
        f"/images/{name}/{md5(b'other')}.png",     # no such image
        f"/images/{name}/{good[:-3]}gif",          # right md5, wrong extension
        f"/images/general/{good}",                 # another chat
        f"/images/nochat/{good}",
        f"/images/{name}/..%2F..%2Fparley.db",
        "/images/..%2F..%2F/parley.db",
        f"/images/{name}/%2e%2e%2fserver.log",
        "/images/../parley.db",
        "/static/../parley.db",
        "/static/..%2F..%2Fparley.db",
        "/parley.db",
        "/images/x",
    ):
        status, _, body = await get(server, path)
        assert status == 404, path
        assert b"SQLite" not in body
