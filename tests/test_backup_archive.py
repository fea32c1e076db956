"""The archive format alone, in this process: what the writer puts in, in which order,
and what :func:`parley.archive.verify` accepts and refuses."""

from __future__ import annotations

import tarfile
from pathlib import Path

import msgspec
import pytest

from parley.archive import (
    FORMAT,
    FORMAT_VERSION,
    ArchiveError,
    ArchiveWriter,
    ImageInfo,
    Manifest,
    TableInfo,
    members,
    sha256,
    verify,
)

ROWS = b'{"id":1,"login":"alice"}\n{"id":2,"login":"bob"}\n'


def manifest(writer: ArchiveWriter, rows: int = 2) -> Manifest:
    return Manifest(
        format=FORMAT, format_version=FORMAT_VERSION, parley_version="0.1.0",
        revision="0009_moderation", created_ms=1, source="sqlite",
        tables=[TableInfo("users", ["id", "login"], [], rows)],
        images=ImageInfo(1, 3, []), sequences={"users": 2}, members=writer.sums,
        left_out={})


@pytest.mark.parametrize("level", [0, 1, 9])
def test_written_then_verified(tmp_path: Path, level: int) -> None:
    path = tmp_path / "a.tar.gz"
    writer = ArchiveWriter(path, level)
    writer.add("tables/users/000000.jsonl", ROWS)
    writer.add("images/2/" + "0" * 32 + ".png", b"png")
    assert not path.exists()  # until finished, only the partial file
    writer.finish(manifest(writer))
    assert not writer.partial.exists()
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if level else b"pa")
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["parley-archive.json", "tables/users/000000.jsonl",
                                  "images/2/" + "0" * 32 + ".png", "manifest.json",
                                  "manifest.sha256"]
    found = verify(path)
    assert found.members == {"tables/users/000000.jsonl": sha256(ROWS),
                             "images/2/" + "0" * 32 + ".png": sha256(b"png")}
    assert [name for name, _ in members(path)][:2] == ["tables/users/000000.jsonl",
                                                       "images/2/" + "0" * 32 + ".png"]
    assert msgspec.json.decode(dict(members(path))["manifest.json"], type=Manifest) == found


def test_row_count_must_match(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    writer = ArchiveWriter(path, 1)
    writer.add("tables/users/000000.jsonl", ROWS)
    writer.finish(manifest(writer, rows=3))
    with pytest.raises(ArchiveError, match="table users does not hold the 3 rows"):
        verify(path)


def test_member_not_in_manifest(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    writer = ArchiveWriter(path, 1)
    writer.add("tables/users/000000.jsonl", ROWS)
    listed = manifest(writer)
    writer.add("tables/users/000001.jsonl", b"")  # (after the manifest's list was made)
    listed.members = {"tables/users/000000.jsonl": sha256(ROWS)}
    writer.finish(listed)
    with pytest.raises(ArchiveError, match=r"member tables/users/000001\.jsonl does not match"):
        verify(path)


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    writer = ArchiveWriter(path, 1)
    writer.add("tables/users/000000.jsonl", ROWS)
    writer.abort()
    assert list(tmp_path.iterdir()) == []
