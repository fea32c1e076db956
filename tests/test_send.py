"""Sending messages: the seed's examples and every failure, over real sockets."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import aiohttp

from conftest import PASSWORD, Connect, MakeServer, ServerProcess, joined, room, user
from images_data import GIF, JPEG, PNG, WEBP, b64, image_bytes, md5

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def message(frame: dict, *, user: str, text: str | None = None,
            image: str | None = None) -> None:
    """``frame`` is the broadcast of a message with exactly these fields."""
    assert frame["Type"] == "chat", frame
    assert frame["Command"] == "message", frame
    assert set(frame) == {"Type", "Command", "Message"}, frame
    body = frame["Message"]
    expected_keys = {"id", "user", "date"} | ({"text"} if text else set()) | (
        {"image"} if image else set())
    assert set(body) == expected_keys, body
    assert body["user"] == user
    assert DATE.fullmatch(body["date"]), body["date"]
    assert isinstance(body["id"], int)
    assert body["id"] > 0
    if text:
        assert body["text"] == text
    if image:
        assert body["image"] == image


async def test_seed_flow_choice_then_text(fresh_server: ServerProcess, connect: Connect) -> None:
    alice = await user(connect, fresh_server.ws, "user")
    assert await alice.request({"Type": "chat", "Chat": "general", "Command": "choice"}) == {
        "Type": "chat", "Command": "choice", "Chat": "general", "Messages": [], "Change": 0}
    assert await alice.recv() == joined("general", "user")
    await alice.send({"Type": "chat", "Command": "message", "Text": "Hey, there is somebody?"})
    frame = await alice.recv()
    message(frame, user="user", text="Hey, there is somebody?")
    assert frame["Message"]["id"] == 1


async def test_every_socket_in_the_chat_gets_it_and_no_other(connect: Connect) -> None:
    name, (a, b, c) = await room(connect, 3)
    second_tab = await connect()
    assert (await second_tab.login(b.user, PASSWORD))["Status"] == "success"
    assert (await second_tab.choose(name))["Command"] == "choice"  # b already there: no push
    outside = await user(connect)
    anonymous = await connect()
    await a.say("to everyone")
    frames = [await x.recv() for x in (a, b, c, second_tab)]
    for frame in frames:
        message(frame, user=a.user, text="to everyone")
    assert len({f["Message"]["id"] for f in frames}) == 1
    assert await outside.silent()
    assert await anonymous.silent()


async def test_image_message(connect: Connect, server: ServerProcess) -> None:
    name, (a, b) = await room(connect, 2)
    await b.say(image=b64(PNG))
    url = f"/images/{name}/{md5(PNG)}.png"
    for x in (a, b):
        message(await x.recv(), user=b.user, image=url)
    async with aiohttp.ClientSession() as http, http.get(server.http + url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert await response.read() == PNG


async def test_image_with_text_and_data_url(connect: Connect) -> None:
    name, (a,) = await room(connect, 1)
    await a.say("LOL", image="data:image/jpeg;base64," + b64(JPEG))
    message(await a.recv(), user=a.user, text="LOL", image=f"/images/{name}/{md5(JPEG)}.jpg")


async def test_every_accepted_format_keeps_its_detected_extension(connect: Connect) -> None:
    name, (a,) = await room(connect, 1)
    for data, ext in ((PNG, "png"), (JPEG, "jpg"), (GIF, "gif"), (WEBP, "webp")):
        await a.say(image=b64(data))
        frame = await a.recv()
        assert frame["Message"]["image"] == f"/images/{name}/{md5(data)}.{ext}"


async def test_same_image_twice_is_stored_once(connect: Connect, server: ServerProcess) -> None:
    name, (a,) = await room(connect, 1)
    await a.say(image=b64(PNG))
    await a.say(image=b64(PNG))
    first, second = await a.recv(), await a.recv()
    assert first["Message"]["image"] == second["Message"]["image"]
    assert first["Message"]["id"] + 1 == second["Message"]["id"]
    assert await server.images(name) == [f"{md5(PNG)}.png"]


FAILED = {"Type": "chat", "Command": "message", "Status": "failed to attach image"}


async def test_not_an_image_is_refused_and_nothing_stored(
    connect: Connect, server: ServerProcess
) -> None:
    name, (a, b) = await room(connect, 2)
    before = await server.images()
    for bad in ("WW91IGEgcGlkb3IK", "not base64 at all!", b64(b"GIF89a<script>x</script>"),
                b64(PNG[:40]), b64(b"%PDF-1.4 hello")):
        assert await a.request({"Type": "chat", "Command": "message", "Image": bad}) == FAILED
        assert await a.request(
            {"Type": "chat", "Command": "message", "Image": bad, "Text": "LOL"}) == FAILED
    bmp = _bmp()
    assert await a.request({"Type": "chat", "Command": "message", "Image": b64(bmp)}) == FAILED
    assert await b.silent()
    assert await server.images() == before
    assert await server.texts(name) == []


async def test_image_over_the_limits_is_refused(make_server: MakeServer,
                                               connect: Connect) -> None:
    small = make_server("--max-image-bytes", "2000", "--max-image-pixels", "10000")
    try:
        _, (a,) = await room(connect, 1, url=small.ws)
        noisy = image_bytes("PNG", (60, 60))
        big = _noise_png(100, 100)
        assert len(big) > 2000
        assert await a.request(
            {"Type": "chat", "Command": "message", "Image": b64(big)}) == FAILED
        wide = image_bytes("PNG", (200, 60))  # 12,000 pixels, few bytes
        assert len(wide) < 2000
        assert await a.request(
            {"Type": "chat", "Command": "message", "Image": b64(wide)}) == FAILED
        await a.say(image=b64(noisy))
        assert (await a.recv())["Message"]["image"].endswith(".png")
        assert await small.images() == [f"{md5(noisy)}.png"]
    finally:
        assert small.stop() == 0


async def test_not_logged_in_or_no_chat(connect: Connect) -> None:
    anonymous = await connect()
    no_chat = await user(connect)
    expected = {"Type": "chat", "Command": "message", "Status": "error in chat or user"}
    for client in (anonymous, no_chat):
        for request in ({"Text": "hi"}, {"Image": b64(PNG)}, {"Image": b64(PNG), "Text": "x"}):
            assert await client.request(
                {"Type": "chat", "Command": "message", **request}) == expected


async def test_chat_deleted_under_the_sender(connect: Connect) -> None:
    name, (owner, other) = await room(connect, 2)
    assert (await owner.request({"Type": "chat", "Command": "delete"}))["Status"] == "success"
    assert await other.recv() == {
        "Type": "chat", "Command": "delete", "Chat": name, "Status": "deleted"}
    assert (await other.recv())["Command"] == "list"
    assert await other.request({"Type": "chat", "Command": "message", "Text": "anyone?"}) == {
        "Type": "chat", "Status": "error"}


async def test_empty_and_too_long_text(connect: Connect, server: ServerProcess) -> None:
    name, (a,) = await room(connect, 1)
    for request in ({}, {"Text": ""}, {"Image": ""}, {"Text": "", "Image": ""}):
        assert await a.request({"Type": "chat", "Command": "message", **request}) == {
            "Type": "chat", "Command": "message", "Status": "error",
            "Detail": "A message needs a non-empty Text or an Image"}
    assert await a.request({"Type": "chat", "Command": "message", "Text": "x" * 4001}) == {
        "Type": "chat", "Command": "message", "Status": "error",
        "Detail": "Text must be at most 4000 characters"}
    await a.say("я" * 4000)
    assert (await a.recv())["Message"]["text"] == "я" * 4000
    assert await server.texts(name) == ["я" * 4000]


async def test_rate_limited(make_server: MakeServer, connect: Connect) -> None:
    slow = make_server("--rate-limit", "0.5", "--rate-burst", "3")
    try:
        name, (a, b) = await room(connect, 2, url=slow.ws)
        for i in range(3):
            await a.say(f"m{i}")
        for i in range(3):
            assert (await a.recv())["Message"]["text"] == f"m{i}"
            assert (await b.recv())["Message"]["text"] == f"m{i}"
        assert await a.request({"Type": "chat", "Command": "message", "Text": "m3"}) == {
            "Type": "chat", "Command": "message", "Status": "rate limited"}
        assert await b.silent()
        await b.say("b is not limited")  # the limit is per user
        assert (await b.recv())["Message"]["text"] == "b is not limited"
        assert (await a.recv())["Message"]["text"] == "b is not limited"
        assert await slow.texts(name) == ["m0", "m1", "m2", "b is not limited"]
    finally:
        assert slow.stop() == 0


async def test_nonce_makes_a_retry_safe(connect: Connect, server: ServerProcess) -> None:
    name, (a, b) = await room(connect, 2)
    await a.say("once", nonce="n-1")
    first = await a.recv()
    assert first["Message"]["nonce"] == "n-1"
    assert await b.recv() == without_nonce(first)
    await a.say("once", nonce="n-1")
    assert await a.recv() == first  # the stored message again, to the sender alone
    assert await b.silent()
    await b.say("b's own", nonce="n-1")  # nonces are per user
    assert (await b.recv())["Message"]["text"] == "b's own"
    assert (await a.recv())["Message"]["text"] == "b's own"
    assert await server.texts(name) == ["once", "b's own"]
    assert await a.request(
        {"Type": "chat", "Command": "message", "Text": "x", "Nonce": "n" * 65}) == {
        "Type": "chat", "Command": "message", "Status": "error",
        "Detail": "Nonce must be 1 to 64 characters"}


def without_nonce(frame: dict) -> dict:
    return {**frame, "Message": {k: v for k, v in frame["Message"].items() if k != "nonce"}}


async def test_the_nonce_comes_back_to_the_senders_own_sockets_only(
        connect: Connect, server: ServerProcess) -> None:
    name, (a, b) = await room(connect, 2)
    a_tab = await connect()
    assert (await a_tab.login(a.user, PASSWORD))["Status"] == "success"
    assert (await a_tab.choose(name))["Command"] == "choice"
    await a.say("hi", nonce="n-123")
    frames = [await x.recv() for x in (a, a_tab, b)]
    stored = frames[2]["Message"]
    assert DATE.fullmatch(stored["date"])
    plain = {"Type": "chat", "Command": "message",
             "Message": {"id": stored["id"], "user": a.user, "date": stored["date"],
                         "text": "hi"}}
    own = {"Type": "chat", "Command": "message",
           "Message": {"id": stored["id"], "user": a.user, "date": stored["date"],
                       "text": "hi", "nonce": "n-123"}}
    assert frames == [own, own, plain]
    # the retry's answer (to the retrying socket alone) carries it too
    await a_tab.say("hi", nonce="n-123")
    assert await a_tab.recv() == own
    assert await a.silent()
    assert await b.silent()
    # without a Nonce, nothing changes; and b's nonce is b's alone
    await a.say("plain")
    message(await a.recv(), user=a.user, text="plain")
    message(await a_tab.recv(), user=a.user, text="plain")
    message(await b.recv(), user=a.user, text="plain")
    await b.say("from b", nonce="b-1")
    assert (await b.recv())["Message"]["nonce"] == "b-1"
    for x in (a, a_tab):
        message(await x.recv(), user=b.user, text="from b")
    # history never shows nonces
    history = await a.choose(name)
    assert [set(m) for m in history["Messages"]] == [{"id", "user", "date", "text"}] * 3


async def test_ids_grow_within_a_chat_under_concurrent_senders(connect: Connect) -> None:
    _name, clients = await room(connect, 4)
    await asyncio.gather(*(c.say(f"{i}-{k}") for i, c in enumerate(clients) for k in range(5)))
    seen = [[(await c.recv())["Message"] for _ in range(20)] for c in clients]
    ids = [m["id"] for m in seen[0]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20
    assert all(s == seen[0] for s in seen)  # every socket, the same order


async def test_sqlite_busy_answers_error_then_recovers(tmp_path: Path, connect: Connect) -> None:
    """SQLite only: another process holds the write lock past the busy timeout.
    (PostgreSQL going away is tested with a real outage in test_scale_out.)"""
    busy = ServerProcess(tmp_path / "d", env={"PARLEY_SQLITE_BUSY_MS": "300"}).start()
    try:
        name, (a, b) = await room(connect, 2, url=busy.ws)
        lock = sqlite3.connect(busy.data_dir / "parley.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            assert await a.request({"Type": "chat", "Command": "message", "Text": "lost"}) == {
                "Type": "chat", "Command": "message", "Status": "error"}
            assert await b.silent()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await a.say("back")
        assert (await a.recv())["Message"]["text"] == "back"
        assert (await b.recv())["Message"]["text"] == "back"
        assert await busy.texts(name) == ["back"]
    finally:
        assert busy.stop() == 0


# -- helpers ----------------------------------------------------------------------------


def _bmp() -> bytes:
    return image_bytes("BMP")


def _noise_png(w: int, h: int) -> bytes:
    import io
    import random

    from PIL import Image

    rng = random.Random(1)
    img = Image.frombytes("RGB", (w, h), bytes(rng.randrange(256) for _ in range(w * h * 3)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
