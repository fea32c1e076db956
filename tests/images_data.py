"""Small real images, made with Pillow, for the tests."""

from __future__ import annotations

import base64
import hashlib
import io

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 6), color: str = "red",
                **options: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt, **options)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# The server stores a re-encoded copy of every image. These four are already
# what it would store (the copy is byte for byte the same: test_images.py checks
# it), so md5(PNG) is the md5 in the URL of a message with PNG.
PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG", color="blue")
GIF = image_bytes("GIF", color="green")
WEBP = image_bytes("WEBP", color="yellow", lossless=True, quality=100, method=4, exact=True)
