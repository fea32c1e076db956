"""Images: checking what a client sends, and the store that keeps and serves the bytes.

An image is taken in two steps, each a job of the image :class:`~parley.pools.WorkPool`:

1. :func:`open_image` decodes the base64 and reads the picture's header only
   (format, size, frames): cheap, and enough to know what a full decode costs
   (:attr:`Upload.memory`) before it is started.
2. :func:`reencode` decodes every pixel to prove it is a picture, turns it upright
   (EXIF orientation), and encodes a fresh copy in the same format with no
   metadata: what is stored and served is that copy, never the client's bytes.

:func:`decode_image` does both in the calling thread; :func:`decode_in` runs them
in a pool with the cost of each. The extension comes from the detected format,
never from the client. Files are content-addressed: ``<md5>.<ext>`` under the
chat's folder, the MD5 of the stored (re-encoded) bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import shutil
import struct
import tempfile
import warnings
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageOps, ImageSequence
from PIL.JpegImagePlugin import get_sampling

from .errors import ImageRejected
from .pools import WorkPool

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

#: frames an animated GIF or WebP keeps at most (the rest are dropped)
MAX_FRAMES = 100
#: quality of a JPEG that had to be turned upright (else its own tables are kept)
JPEG_QUALITY = 95
#: quality of a lossy WebP's copy (a lossless WebP stays lossless)
WEBP_QUALITY = 90
#: the copy may be at most this many times ``max_bytes``
GROWTH = 2
#: the EXIF tag that says how to turn the picture upright
ORIENTATION = 0x0112
#: bytes a decoded pixel takes in Pillow, by mode (4 for any other mode)
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
           Image.DecompressionBombWarning, MemoryError, TypeError, IndexError, KeyError,
           struct.error)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    data: bytes
    name: str  # "<md5>.<ext>"

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Upload:
    """A client's image whose header was read and checked; its pixels not yet decoded."""

    data: bytes
    format: str  # a key of FORMATS
    width: int
    height: int
    mode: str
    frames: int  # frames the copy will keep

    @property
    def memory(self) -> int:
        """Bytes :func:`reencode` may need at most, roughly: the decoded frames (a
        still picture twice over: decoded and turned upright), the file and its copy."""
        pixels = self.width * self.height
        if self.frames > 1:
            decoded = pixels * 4 * (self.frames + 1)
        else:
            decoded = pixels * _PIXEL_BYTES.get(self.mode, 4) * 2
        return decoded + (1 + GROWTH) * len(self.data)


def decode_image(b64: str, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """The stored copy of the ``Image`` field, or :class:`ImageRejected` (blocking)."""
    return reencode(open_image(b64, max_bytes=max_bytes, max_pixels=max_pixels),
                    max_bytes=max_bytes)


async def decode_in(pool: WorkPool, b64: str, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """:func:`decode_image` in ``pool``: the header first, at the cost of the base64 text,
    then the pixels at the cost the header announces. ``RateLimited`` when it is full."""
    upload = await pool.run_costing(
        len(b64), open_image, b64, max_bytes=max_bytes, max_pixels=max_pixels)
    return await pool.run_costing(upload.memory, reencode, upload, max_bytes=max_bytes)


def open_image(b64: str, *, max_bytes: int, max_pixels: int) -> Upload:
    """Decode the base64 and read the picture's header; :class:`ImageRejected` when it
    is not base64, too large, not an accepted format, or has too many pixels."""
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                fmt, (width, height), mode = img.format, img.size, img.mode
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise ImageRejected(reason="too many pixels")
                # A GIF is scanned frame by frame without decoding; WebP counts its
                # frames in its header. A PNG keeps its first frame only.
                n_frames = getattr(img, "n_frames", 1) if fmt in ("GIF", "WEBP") else 1
    except ImageRejected:
        raise
    except _ERRORS:
        raise ImageRejected(reason="not an image") from None
    if fmt not in FORMATS:
        raise ImageRejected(reason="not an accepted format")
    if not _ends_cleanly(fmt, data):
        # A picture with something else appended (a script, an archive) is a polyglot.
        raise ImageRejected(reason="data after the image")
    # Every kept frame is decoded: together they stay within max_pixels.
    frames = max(1, min(n_frames, MAX_FRAMES, max_pixels // (width * height)))
    return Upload(data, fmt, width, height, mode, frames)


def reencode(upload: Upload, *, max_bytes: int) -> DecodedImage:
    """Decode every pixel and encode a copy in the same format, upright, without
    metadata, with at most ``upload.frames`` frames. The same upload always gives
    the same bytes."""
    out = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.data), formats=[upload.format]) as img:
                if (img.size, img.format) != ((upload.width, upload.height), upload.format):
                    raise ImageRejected(reason="not an image")
                if upload.format == "PNG":
                    _png(img, out)
                elif upload.format == "JPEG":
                    _jpeg(img, out)
                else:
                    _animation(img, out, upload)
    except ImageRejected:
        raise
    except _ERRORS:
        raise ImageRejected(reason="not an image") from None
    data = out.getvalue()
    if len(data) > GROWTH * max_bytes:
        raise ImageRejected(reason="copy too large")
    ext = FORMATS[upload.format][0]
    return DecodedImage(data, f"{hashlib.md5(data).hexdigest()}.{ext}")


def _upright(img: Image.Image) -> tuple[Image.Image, bool]:
    """The decoded picture turned as its EXIF orientation says; True when it was turned."""
    img.load()
    if img.getexif().get(ORIENTATION, 1) not in range(2, 9):
        return img, False  # (exif_transpose would copy it: twice the memory for nothing)
    turned = ImageOps.exif_transpose(img)
    return (img, False) if turned is None else (turned, True)


def _png(img: Image.Image, out: io.BytesIO) -> None:
    picture, _ = _upright(img)
    options: dict[str, Any] = {}
    if "transparency" in picture.info:
        options["transparency"] = picture.info["transparency"]
    picture.info = {}  # no text, EXIF, ICC profile, dates; an APNG keeps its first frame
    picture.save(out, "PNG", compress_level=6, **options)


def _jpeg(img: Image.Image, out: io.BytesIO) -> None:
    picture, turned = _upright(img)
    picture.info = {}  # no EXIF, comments, ICC profile, XMP
    if turned:
        # New pixels: encode them finely, with the original's chroma subsampling.
        sampling = get_sampling(img)
        picture.save(out, "JPEG", quality=JPEG_QUALITY,
                     subsampling=sampling if sampling >= 0 else 0)
    else:
        # The original's own quantization tables and subsampling: the smallest loss.
        picture.save(out, "JPEG", quality="keep")


def _animation(img: Image.Image, out: io.BytesIO, upload: Upload) -> None:
    """GIF and WebP: the first ``upload.frames`` frames, each with its duration."""
    loop = img.info.get("loop")
    frames: list[Image.Image] = []
    durations: list[int] = []
    disposals: list[int] = []
    for frame in islice(ImageSequence.Iterator(img), upload.frames):
        frame.load()  # (a WebP frame learns its duration as it is decoded)
        durations.append(int(frame.info.get("duration", 0)))
        disposals.append(int(getattr(frame, "disposal_method", 0)))
        # A still WebP is turned upright; animations keep their frames as they are.
        copy = _upright(frame.copy())[0] if upload.frames == 1 else frame.copy()
        keep = frame.info.get("transparency")
        copy.info = {} if keep is None else {"transparency": keep}
        frames.append(copy)
    first, rest = frames[0], frames[1:]
    if upload.format == "GIF":
        # (one frame: single values; Pillow takes lists for several frames only)
        options: dict[str, Any] = (
            {"duration": durations, "disposal": disposals} if rest
            else {"duration": durations[0], "disposal": disposals[0]})
        if loop is not None:
            options["loop"] = loop
        first.save(out, "GIF", save_all=True, append_images=rest, **options)
    else:
        lossless = _webp_is_lossless(upload.data)
        first.save(out, "WEBP", save_all=len(frames) > 1, append_images=rest,
                   duration=durations, loop=loop or 0, lossless=lossless,
                   quality=100 if lossless else WEBP_QUALITY, method=4, exact=lossless)


def _webp_is_lossless(data: bytes) -> bool:
    """True when the WebP file's pixels are stored losslessly (a ``VP8L`` chunk)."""
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        if kind == b"VP8L":
            return True
        if kind == b"VP8 ":
            return False
        # ANMF: a frame's header (16 bytes), then its own chunks
        pos += 8 + 16 if kind == b"ANMF" else 8 + size + (size & 1)
    return False


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


class ImageRows(Protocol):
    """Where :class:`DatabaseImageStore` reads its bytes (the store's ``images`` rows)."""

    async def image_data(self, chat_id: int, name: str) -> bytes | None: ...


class ImageStore(Protocol):
    """Where image bytes live, as files or in the database; callers never ask which.

    ``put`` before the message is stored (``discard`` undoes it when the message
    never is); :meth:`draft_data` gives the bytes that travel with the message
    into the database, in its transaction; ``read`` finds them to serve;
    ``drop_chat`` after the chat's rows are deleted.
    """

    def put(self, chat_id: int, image: DecodedImage) -> bool:
        """Keep the bytes; True when this call created them (False: already there)."""
        ...

    def draft_data(self, image: DecodedImage) -> bytes | None:
        """The bytes to store in the image's row, with its message (None: kept elsewhere)."""
        ...

    def discard(self, chat_id: int, name: str) -> None:
        """Undo a ``put`` whose message was never stored."""
        ...

    async def read(self, chat_id: int, name: str) -> bytes | Path | None:
        """The image's bytes, or the file that holds them; None when there is no such
        image. :class:`~parley.errors.Unavailable` when the database is away."""
        ...

    def drop_chat(self, chat_id: int) -> None: ...


class FileImageStore:
    """Images as files: ``<root>/<chat id>/<md5>.<ext>``, written atomically."""

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

    def draft_data(self, image: DecodedImage) -> bytes | None:
        return None

    def discard(self, chat_id: int, name: str) -> None:
        self._file(chat_id, name).unlink(missing_ok=True)

    def path(self, chat_id: int, name: str) -> Path | None:
        if not FILE_NAME.fullmatch(name):
            return None
        target = self._file(chat_id, name)
        return target if target.is_file() else None

    async def read(self, chat_id: int, name: str) -> bytes | Path | None:
        return self.path(chat_id, name)

    def drop_chat(self, chat_id: int) -> None:
        shutil.rmtree(self.root / str(int(chat_id)), ignore_errors=True)


class DatabaseImageStore:
    """Images as rows of the ``images`` table (shared by every process), written in
    the transaction of their message and deleted with their chat's rows."""

    def __init__(self, rows: ImageRows) -> None:
        self._rows = rows

    def put(self, chat_id: int, image: DecodedImage) -> bool:
        return False

    def draft_data(self, image: DecodedImage) -> bytes | None:
        return image.data

    def discard(self, chat_id: int, name: str) -> None:
        return None

    async def read(self, chat_id: int, name: str) -> bytes | Path | None:
        if not FILE_NAME.fullmatch(name):
            return None
        return await self._rows.image_data(chat_id, name)

    def drop_chat(self, chat_id: int) -> None:
        return None
