"""The backup archive's format: one tar stream (gzip-compressed unless the level is 0).

Members, in this order:

1. ``parley-archive.json``: ``{"format": "parley-archive", "version": 1}``, so that a
   foreign archive is recognised at its first member;
2. ``tables/<table>/<n>.jsonl``: a table's rows as JSON lines (one object a row, bytes
   as base64), in chunks of at most :data:`CHUNK_BYTES` so that neither writing nor
   reading ever holds a whole table; tables come in dependency order (a row's foreign
   keys always point at rows of earlier members);
3. ``images/<chat id>/<name>``: an image's bytes, right after the chunk of the
   ``images`` rows that names it;
4. ``manifest.json``: what the archive holds (:class:`Manifest`), with the SHA-256 of
   every member above;
5. ``manifest.sha256``: the SHA-256 of the manifest itself.

The manifest comes last because the checksums are known only once everything is
written; a reader therefore reads the archive once to check it (:func:`verify`) and
again to load it. Every problem comes out as :class:`ArchiveError`, one line naming it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

FORMAT = "parley-archive"
#: the newest format this release writes and reads
FORMAT_VERSION = 1
MARKER = "parley-archive.json"
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
#: a table chunk is cut once it holds this many bytes of JSON lines
CHUNK_BYTES = 4 * 1024 * 1024
#: no member of a real archive is larger (chunks are ~4 MiB, images a few MiB)
MAX_MEMBER = 256 * 1024 * 1024
TABLE_MEMBER = re.compile(r"tables/([a-z_]+)/(\d+)\.jsonl")
IMAGE_MEMBER = re.compile(r"images/(\d+)/([0-9a-f]{32}\.(?:png|jpg|gif|webp))")


class ArchiveError(Exception):
    """The archive is truncated, corrupted, foreign or too new (one line says which)."""


class TableInfo(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    columns: list[str]
    #: columns whose values are bytes, written as base64 strings
    binary: list[str]
    rows: int


class ImageInfo(msgspec.Struct, forbid_unknown_fields=True):
    count: int
    bytes: int
    #: ``<chat id>/<name>`` of image rows left out: their file was deleted (by a removal
    #: or a chat's deletion) between the snapshot and the moment it was read
    missing: list[str]


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    format_version: int
    parley_version: str
    #: the alembic revision of the database the archive was taken from
    revision: str
    created_ms: int
    #: "sqlite" or "postgresql"
    source: str
    tables: list[TableInfo]
    images: ImageInfo
    #: the last id handed out by each table's id sequence (never lower than its max id)
    sequences: dict[str, int]
    #: member name -> SHA-256 (hex) of its bytes, for every member but the manifest's own
    members: dict[str, str]
    #: what the archive deliberately does not hold, and why
    left_out: dict[str, str]


class _Marker(msgspec.Struct):
    format: str
    version: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArchiveWriter:
    """Writes an archive to ``<path>.partial`` and renames it to ``path`` once complete,
    so that a failed backup never leaves a file that looks like an archive."""

    def __init__(self, path: Path, level: int) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.sums: dict[str, str] = {}
        self.bytes_in = 0
        self._file: IO[bytes] = open(self.partial, "wb")  # noqa: SIM115
        self._gzip: gzip.GzipFile | None = (
            gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=level, mtime=0)
            if level > 0 else None)
        self._tar = tarfile.open(fileobj=self._gzip or self._file, mode="w|",  # noqa: SIM115
                                 format=tarfile.PAX_FORMAT)
        self._now = int(time.time())
        self._put(MARKER, msgspec.json.encode(_Marker(FORMAT, FORMAT_VERSION)))

    def _put(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = self._now
        info.mode = 0o600
        self._tar.addfile(info, io.BytesIO(data))
        self.bytes_in += len(data)

    def add(self, name: str, data: bytes) -> None:
        """One member, its checksum kept for the manifest."""
        self._put(name, data)
        self.sums[name] = sha256(data)

    def finish(self, manifest: Manifest) -> None:
        body = msgspec.json.encode(manifest)
        self._put(MANIFEST, body)
        self._put(MANIFEST_SUM, sha256(body).encode())
        self._tar.close()
        if self._gzip is not None:
            self._gzip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        for closing in (self._tar.close, *((self._gzip.close,) if self._gzip else ()),
                        self._file.close):
            with contextlib.suppress(Exception):  # the partial file goes anyway
                closing()
        self.partial.unlink(missing_ok=True)


_BROKEN = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def members(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every member's name and bytes, in order, the marker checked first; gzip's own CRC
    is checked at the end of the stream."""
    try:
        raw = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ArchiveError(f"cannot read the archive {path}: {exc.strerror}") from exc
    with raw:
        stream: IO[bytes] | gzip.GzipFile = raw
        if raw.read(2) == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        raw.seek(0)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                first = True
                for info in tar:
                    if first:
                        _check_marker(tar, info)
                        first = False
                        continue
                    if not info.isfile() or info.size > MAX_MEMBER:
                        raise ArchiveError(f"unexpected member {info.name!r} in the archive: "
                                           f"not a Parley archive, or corrupted")
                    body = tar.extractfile(info)
                    assert body is not None
                    data = body.read()
                    if len(data) != info.size:
                        raise ArchiveError("the archive is truncated")
                    yield info.name, data
                if first:
                    raise ArchiveError(f"{path} is not a Parley archive (an empty tar)")
            if stream is not raw:
                stream.read()  # to the end: gzip checks its CRC and length there
        except ArchiveError:
            raise
        except tarfile.ReadError as exc:
            if "empty" in str(exc) or "invalid header" in str(exc) or "bad" in str(exc):
                raise ArchiveError(
                    f"{path} is not a Parley archive, or it is corrupted ({exc})") from exc
            raise ArchiveError(f"the archive is truncated or corrupted ({exc})") from exc
        except EOFError as exc:
            raise ArchiveError("the archive is truncated or corrupted (its data ends before "
                               "the end of its stream)") from exc
        except (*_BROKEN, OSError) as exc:
            raise ArchiveError(f"the archive is corrupted ({type(exc).__name__}: "
                               f"{exc})") from exc


def _check_marker(tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
    foreign = ArchiveError("not a Parley archive (its first member is "
                           f"{info.name!r}, not {MARKER!r})")
    if info.name != MARKER or not info.isfile() or info.size > 4096:
        raise foreign
    body = tar.extractfile(info)
    assert body is not None
    try:
        marker = msgspec.json.decode(body.read(), type=_Marker)
    except msgspec.DecodeError as exc:
        raise foreign from exc
    if marker.format != FORMAT:
        raise foreign
    if marker.version > FORMAT_VERSION:
        raise ArchiveError(f"the archive's format version {marker.version} is newer than this "
                           f"release of Parley reads ({FORMAT_VERSION}): restore it with a "
                           f"newer release")


def verify(path: Path) -> Manifest:
    """Read the whole archive once and check it: the marker, every member's checksum
    against the manifest, the manifest's own checksum, and each table's row count; the
    manifest. Nothing but reading is done."""
    seen: dict[str, str] = {}
    lines: dict[str, int] = {}
    body: bytes | None = None
    manifest_sum: bytes | None = None
    for name, data in members(path):
        if manifest_sum is not None:
            raise ArchiveError(f"unexpected member {name!r} after the manifest")
        if name == MANIFEST:
            body = data
            continue
        if name == MANIFEST_SUM:
            manifest_sum = data
            continue
        if body is not None or name in seen:
            raise ArchiveError(f"unexpected member {name!r} in the archive")
        seen[name] = sha256(data)
        chunk = TABLE_MEMBER.fullmatch(name)
        if chunk:
            lines[chunk[1]] = lines.get(chunk[1], 0) + data.count(b"\n")
    if body is None or manifest_sum is None:
        raise ArchiveError("the archive is truncated (it ends before its manifest)")
    if sha256(body).encode() != manifest_sum.strip():
        raise ArchiveError("the archive's manifest does not match its checksum: corrupted")
    try:
        manifest = msgspec.json.decode(body, type=Manifest)
    except msgspec.DecodeError as exc:
        raise ArchiveError(f"the archive's manifest is unreadable: {exc}") from exc
    for name, digest in seen.items():
        if manifest.members.get(name) != digest:
            raise ArchiveError(f"member {name} does not match its checksum in the manifest: "
                               f"the archive is corrupted")
    for name in manifest.members:
        if name not in seen:
            raise ArchiveError(f"member {name} named by the manifest is missing")
    for table in manifest.tables:
        if lines.pop(table.name, 0) != table.rows:
            raise ArchiveError(f"table {table.name} does not hold the {table.rows} rows the "
                               f"manifest counts")
    if lines:
        raise ArchiveError(f"rows of tables the manifest does not name: {sorted(lines)}")
    return manifest
