"""Small real images, made with Pillow, for the tests."""

from __future__ import annotations

import base64
import hashlib
import io

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 6), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG", color="blue")
GIF = image_bytes("GIF", color="green")
WEBP = image_bytes("WEBP", color="yellow")
