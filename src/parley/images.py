"""Images: checking what a client sends, and the store that keeps and serves the bytes.

:func:`decode_image` turns the request's base64 into verified bytes: it is
blocking (Pillow decodes the whole picture to prove it is one) and runs in a
worker thread. The extension comes from the detected format, never from the
client. Files are content-addressed: ``<md5>.<ext>`` under the chat's folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from .errors import ImageRejected

#: Pillow format -> (extension, Content-Type)
FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = dict(FORMATS.values())
FILE_NAME = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|gif|webp)")
_DATA_URL = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class DecodedImage:
    data: bytes
    name: str  # "<md5>.<ext>"

    @property
    def size(self) -> int:
        return len(self.data)


def decode_image(b64: str, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Verified image bytes from the ``Image`` field, or :class:`ImageRejected`."""
    prefix = _DATA_URL.match(b64)
    if prefix:
        b64 = b64[prefix.end():]
    # Four base64 characters carry three bytes: refuse early what cannot fit
    # (line breaks, which some encoders add, do not count).
    limit = (max_bytes + 2) // 3 * 4
    if len(b64) > limit:
        b64 = _WHITESPACE.sub("", b64)
        if len(b64) > limit:
            raise ImageRejected(reason="image too large")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        try:
            data = base64.b64decode(_WHITESPACE.sub("", b64), validate=True)
        except (binascii.Error, ValueError):
            raise ImageRejected(reason="not base64") from None
    if not data or len(data) > max_bytes:
        raise ImageRejected(reason="image empty or too large")
    ext = _verify(data, max_pixels)
    return DecodedImage(data, f"{hashlib.md5(data).hexdigest()}.{ext}")


def _verify(data: bytes, max_pixels: int) -> str:
    """Decode the picture fully; return its extension."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                width, height = img.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise ImageRejected(reason="too many pixels")
                fmt = img.format
                img.load()
    except ImageRejected:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, MemoryError, TypeError, IndexError):
        raise ImageRejected(reason="not an image") from None
    if fmt not in FORMATS:
        raise ImageRejected(reason="not an accepted format")
    if not _ends_cleanly(fmt, data):
        # A picture with something else appended (a script, an archive) is a polyglot.
        raise ImageRejected(reason="data after the image")
    return FORMATS[fmt][0]


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _ends_cleanly(fmt: str, data: bytes) -> bool:
    """True when the file ends where its format says the image ends."""
    if fmt == "PNG":
        return data.endswith(_PNG_END)
    if fmt == "JPEG":
        return data.endswith(b"\xff\xd9")
    if fmt == "GIF":
        return data.endswith(b"\x3b")
    if fmt == "WEBP":
        size = int.from_bytes(data[4:8], "little") + 8
        return len(data) in (size, size + (size & 1))
    return False


class ImageStore(Protocol):
    """Where image bytes live: ``put`` before the message row commits, ``drop_chat`` on delete.

    With ``in_database`` the bytes travel with the message into the database
    (one transaction, seen by every process); ``put``, ``discard``,
    ``drop_chat`` then do nothing and ``path`` finds nothing.
    """

    in_database: bool

    def put(self, chat_id: int, image: DecodedImage) -> bool:
        """Keep the bytes; True when this call created them (False: already there)."""
        ...

    def discard(self, chat_id: int, name: str) -> None:
        """Undo a ``put`` whose message was never stored."""
        ...

    def path(self, chat_id: int, name: str) -> Path | None: ...

    def drop_chat(self, chat_id: int) -> None: ...


class FileImageStore:
    """Images as files: ``<root>/<chat id>/<md5>.<ext>``, written atomically."""

    in_database = False

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _file(self, chat_id: int, name: str) -> Path:
        if not FILE_NAME.fullmatch(name):
            raise ValueError("bad image name")
        return self.root / str(int(chat_id)) / name

    def put(self, chat_id: int, image: DecodedImage) -> bool:
        target = self._file(chat_id, image.name)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(image.data)
                out.flush()
                os.fsync(out.fileno())
            # link() never replaces: of two writers of the same image, exactly one
            # creates the file (and may discard it); the other learns it exists.
            os.link(tmp, target)
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def discard(self, chat_id: int, name: str) -> None:
        self._file(chat_id, name).unlink(missing_ok=True)

    def path(self, chat_id: int, name: str) -> Path | None:
        if not FILE_NAME.fullmatch(name):
            return None
        target = self._file(chat_id, name)
        return target if target.is_file() else None

    def drop_chat(self, chat_id: int) -> None:
        shutil.rmtree(self.root / str(int(chat_id)), ignore_errors=True)


class DatabaseImageStore:
    """Images as rows of the ``images`` table, written with their message."""

    in_database = True

    def put(self, chat_id: int, image: DecodedImage) -> bool:
        return False

    def discard(self, chat_id: int, name: str) -> None:
        return None

    def path(self, chat_id: int, name: str) -> Path | None:
        return None

    def drop_chat(self, chat_id: int) -> None:
        return None
