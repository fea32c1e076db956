"""What the server keeps of an image, and what decoding many at once may cost it.

Over real sockets: the bytes served at an image's URL are a re-encoded copy of
the picture (same format, same pixels, nothing else), and image decoding runs
in a pool of its own whose memory budget answers a flood with ``rate limited``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import struct
import threading
import zlib

import aiohttp
import pytest
from PIL import Image

from conftest import FAST, Connect, MakeServer, ServerProcess, room, rss_mb
from images_data import b64, md5
from parley.client import Client, Frame

RATE_LIMITED = {"Type": "chat", "Command": "message", "Status": "rate limited"}


async def served(server: ServerProcess, url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(server.http + url) as response:
        assert response.status == 200, url
        return await response.read()


async def send_image(client: Client, data: bytes, nonce: str | None = None) -> str:
    await client.say(image=b64(data), nonce=nonce)
    frame = await client.recv()
    assert set(frame) == {"Type", "Command", "Message"}, frame
    url: str = frame["Message"]["image"]
    return url


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))


def png_with_zip_inside() -> bytes:
    """A valid PNG that carries a zip archive in an ancillary chunk before IEND."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buf, "PNG")
    png = buf.getvalue()
    archive = (b"PK\x03\x04" + b"\x14\x00" * 8 + b"evil.html<script>alert(1)</script>"
               + b"PK\x05\x06")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + png_chunk(b"zIPs", archive) + png[iend:]


def jpeg_with_gps_rotated() -> bytes:
    """A 40 x 20 JPEG whose EXIF says 'rotate 90' and holds a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 clockwise to display
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    picture = Image.new("RGB", (40, 20), "white")
    picture.paste((200, 0, 0), (0, 0, 20, 20))  # left half red
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def long_gif(frames: int) -> bytes:
    """An animated GIF of ``frames`` 8 x 8 frames, each unlike the one before."""
    palette = [255, 0, 0, 0, 0, 255, 0, 128, 0]  # red, blue, green
    pictures = [Image.new("P", (8, 8), i % 3) for i in range(frames)]
    for p in pictures:
        p.putpalette(palette)
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=40, loop=0)
    return buf.getvalue()


# --------------------------------------------------------------------------- re-encoding


async def test_a_zip_inside_a_png_is_not_stored(connect: Connect, server: ServerProcess) -> None:
    data = png_with_zip_inside()
    name, (a,) = await room(connect, 1)
    url = await send_image(a, data)
    body = await served(server, url)
    assert url == f"/images/{name}/{md5(body)}.png"
    assert b"PK\x03\x04" not in body
    assert b"zIPs" not in body
    assert b"<script>" not in body
    with Image.open(io.BytesIO(body)) as img:
        assert (img.format, img.size, img.mode) == ("PNG", (16, 16), "RGB")
        assert img.getcolors() == [(256, (0, 128, 128))]
    assert await server.images(name) == [f"{md5(body)}.png"]


async def test_jpeg_exif_and_gps_are_gone_and_its_orientation_applied(
        connect: Connect, server: ServerProcess) -> None:
    data = jpeg_with_gps_rotated()
    assert b"Exif" in data
    assert b"PhoneMaker" in data
    name, (a,) = await room(connect, 1)
    url = await send_image(a, data)
    body = await served(server, url)
    assert url == f"/images/{name}/{md5(body)}.jpg"
    assert b"Exif" not in body
    assert b"PhoneMaker" not in body
    with Image.open(io.BytesIO(body)) as img:
        assert img.format == "JPEG"
        assert img.size == (20, 40)  # turned upright
        assert dict(img.getexif()) == {}
        assert "exif" not in img.info
        top = img.getpixel((10, 5))
        assert isinstance(top, tuple)
        assert top[0] > 150  # the red half is on top
        assert top[1] < 60


async def test_a_gif_of_500_frames_is_stored_with_100(
        connect: Connect, server: ServerProcess) -> None:
    data = long_gif(500)
    with Image.open(io.BytesIO(data)) as img:
        assert img.n_frames == 500
    name, (a,) = await room(connect, 1)
    url = await send_image(a, data)
    body = await served(server, url)
    assert url == f"/images/{name}/{md5(body)}.gif"
    with Image.open(io.BytesIO(body)) as img:
        assert img.format == "GIF"
        assert img.n_frames == 100
        assert img.info["loop"] == 0
        assert img.info["duration"] == 40


async def test_a_retry_with_the_same_nonce_and_image_finds_the_same_message(
        connect: Connect, server: ServerProcess) -> None:
    data = jpeg_with_gps_rotated()
    name, (a,) = await room(connect, 1)
    await a.say(image=b64(data), nonce="photo-1")
    first = await a.recv()
    await a.say(image=b64(data), nonce="photo-1")
    again = await a.recv()
    assert again == first
    body = await served(server, first["Message"]["image"])
    assert await server.images(name) == [f"{md5(body)}.jpg"]
    assert hashlib.md5(body).hexdigest() != md5(data)


# --------------------------------------------------------------------------- memory


@functools.cache
def huge_png() -> bytes:
    """6,240 x 6,240 of one colour: 38.9 Mpixels, under the 40 M cap, about 120 KB."""
    buf = io.BytesIO()
    Image.new("RGB", (6240, 6240), "orange").save(buf, "PNG")
    return buf.getvalue()


class PeakRss:
    """Samples a process's RSS every 10 ms in a thread; the highest seen, MiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.resources
async def test_many_huge_images_at_once_stay_within_the_memory_budget(
        make_server: MakeServer, connect: Connect) -> None:
    data = huge_png()
    assert len(data) < 200_000
    server = make_server(*FAST)  # default image limits and budget
    assert server.proc is not None
    senders = []
    for _ in range(8):
        name, (client,) = await room(connect, 1, url=server.ws)
        senders.append((name, client))
    await senders[0][1].say("warm up")
    await senders[0][1].until(lambda f: f["Command"] == "message")
    before = rss_mb(server.proc.pid)

    async def send(client: Client) -> Frame:
        await client.say(image=b64(data))
        # (the other chats' creation may still push "list" frames)
        return await client.until(lambda f: f["Command"] == "message", timeout=60)

    with PeakRss(server.proc.pid) as rss:
        answers = []
        for _ in range(2):
            answers += await asyncio.gather(*(send(client) for _, client in senders))
    grown = rss.peak - before
    assert grown < 500, f"RSS grew by {grown:.0f} MiB decoding 39-Mpixel images"
    stored = [a for a in answers if a != RATE_LIMITED]
    assert len(stored) >= 2
    assert len(stored) < len(answers), "a flood of huge images must meet the budget"
    for frame in stored:
        assert set(frame) == {"Type", "Command", "Message"}, frame
    chats_with_image = sorted({f["Message"]["image"].split("/")[2] for f in stored})
    for name, _ in senders:
        names = await server.images(name)
        assert names == ([names[0]] if name in chats_with_image else [])
    assert server.alive()
