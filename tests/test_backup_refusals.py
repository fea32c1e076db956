"""What ``parley restore`` refuses, with one line naming the problem, exit status 1, and
nothing written to the target (SQLite data dir or PostgreSQL database): a truncated
archive, a flipped byte, foreign files, an archive of a newer schema or Parley, a
target that is not empty (unless ``--force``, which replaces it)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_kit import Place, dump, image_files, parley, refused, tables
from conftest import PG_URL, Postgres, unavailable
from images_data import image_bytes

PNG = image_bytes(color="purple")
PNG_NAME = hashlib.md5(PNG).hexdigest() + ".png"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """A SQLite database with a user, a token, a chat, messages and an image file."""
    where = Place(tmp_path_factory.mktemp("source"))
    assert parley("migrate", *where.args()).returncode == 0
    db = sqlite3.connect(where.data_dir / "parley.db")
    with db:
        db.execute("INSERT INTO users (id, login, login_key, password_hash, created_ms) "
                   "VALUES (1, 'alice', 'alice', 'hash', 1)")
        db.execute("INSERT INTO tokens VALUES ('digest', 1, 99999999999999)")
        db.execute("INSERT INTO chats (id, name, name_key, owner_id, created_ms, last_id) "
                   "VALUES (2, 'Room', 'room', 1, 1, 2)")
        db.execute("INSERT INTO members (chat_id, user_id, read_id) VALUES (2, 1, 1)")
        for id_, text, image in ((1, "one", None), (2, None, PNG_NAME)):
            db.execute("INSERT INTO messages (chat_id, id, user_id, login, text, image, "
                       "created_ms) VALUES (2, ?, 1, 'alice', ?, ?, 1)", (id_, text, image))
        db.execute("INSERT INTO images (chat_id, name, size) VALUES (2, ?, ?)",
                   (PNG_NAME, len(PNG)))
    db.close()
    (where.data_dir / "images" / "2").mkdir(parents=True)
    (where.data_dir / "images" / "2" / PNG_NAME).write_bytes(PNG)
    return where


@pytest.fixture(scope="module")
def archive(source: Place, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("archives") / "good.tar.gz"
    done = parley("backup", str(out), *source.args())
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path, postgres: Postgres) -> Place:
    if request.param == "sqlite":
        return Place(tmp_path / "target")
    if not postgres.reachable():
        unavailable(f"PostgreSQL at {PG_URL}")
    return Place(tmp_path / "target", postgres.new_database())


async def nothing_written(target: Place) -> None:
    if target.sqlite:
        assert not target.data_dir.exists()
    else:
        assert await tables(target.url) == []
        assert not target.data_dir.exists()


def contents(path: Path) -> bytes:
    return path.read_bytes()


def rewritten(archive: Path, out: Path, change: Callable[[dict[str, Any]], None], *,
              checksum: bool = True,
              edits: dict[str, Callable[[bytes], bytes]] | None = None) -> Path:
    """A copy of the archive whose manifest ``change`` edited (its checksum made anew,
    unless ``checksum`` is False), and whose members named in ``edits`` were edited (their
    checksums in the manifest made anew)."""
    body = b""
    sums: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar, tarfile.open(out, "w:gz") as copy:
        for info in tar:
            data = tar.extractfile(info).read()  # type: ignore[union-attr]
            if edits and info.name in edits:
                data = edits[info.name](data)
                sums[info.name] = hashlib.sha256(data).hexdigest()
            if info.name == "manifest.json":
                manifest = json.loads(data)
                manifest["members"].update(sums)
                change(manifest)
                data = body = json.dumps(manifest).encode()
            elif info.name == "manifest.sha256" and checksum:
                data = hashlib.sha256(body).hexdigest().encode()
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
    return out


async def test_truncated(archive: Path, target: Place, tmp_path: Path) -> None:
    data = contents(archive)
    for cut in (len(data) // 2, len(data) - 30):
        short = tmp_path / f"short{cut}.tar.gz"
        short.write_bytes(data[:cut])
        refused(parley("restore", str(short), *target.args()), "truncated")
        await nothing_written(target)


async def test_one_flipped_byte(archive: Path, target: Place, tmp_path: Path) -> None:
    data = contents(archive)
    for at in (len(data) // 3, len(data) // 2, len(data) - 12):
        broken = tmp_path / f"flipped{at}.tar.gz"
        broken.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
        refused(parley("restore", str(broken), *target.args()), "corrupted")
        await nothing_written(target)


async def test_flipped_byte_in_an_uncompressed_table(source: Place, target: Place,
                                                     tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    assert parley("backup", str(plain), "--level", "0", *source.args()).returncode == 0
    data = contents(plain)
    at = data.index(b'"login":"alice"') + len('"login":"a')
    plain.write_bytes(data[:at] + b"b" + data[at + 1:])
    refused(parley("restore", str(plain), *target.args()),
            "member tables/users/000000.jsonl does not match its checksum")
    await nothing_written(target)


async def test_foreign_files(target: Place, tmp_path: Path) -> None:
    tar_gz = tmp_path / "photos.tar.gz"
    with tarfile.open(tar_gz, "w:gz") as tar:
        info = tarfile.TarInfo("holiday.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    gz = tmp_path / "notes.gz"
    gz.write_bytes(gzip.compress(b"just some notes\n" * 100))
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n" * 100)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    refused(parley("restore", str(tar_gz), *target.args()),
            "not a Parley archive (its first member is 'holiday.txt'")
    for foreign in (gz, text, empty):
        refused(parley("restore", str(foreign), *target.args()), "not a Parley archive")
    refused(parley("restore", str(tmp_path / "missing.tar.gz"), *target.args()),
            "cannot read the archive", "No such file")
    await nothing_written(target)


async def test_newer_schema_or_release(archive: Path, target: Place, tmp_path: Path) -> None:
    newer = rewritten(archive, tmp_path / "newer.tar.gz",
                      lambda m: m.update(revision="0099_future"))
    assert refused(parley("restore", str(newer), *target.args())) == (
        "parley: the archive is of schema revision 0099_future, which this release does not "
        "know (its newest is 0010_search_backlog): it was taken by a newer Parley; restore it "
        "with that release or a newer one")
    await nothing_written(target)
    newer = rewritten(archive, tmp_path / "release.tar.gz",
                      lambda m: m.update(parley_version="99.0.0"))
    refused(parley("restore", str(newer), *target.args()),
            "the archive was taken by Parley 99.0.0, newer than this release")
    newer = rewritten(archive, tmp_path / "format.tar.gz",
                      lambda m: m.update(format_version=2))
    refused(parley("restore", str(newer), *target.args()), "format version 2 is newer")
    await nothing_written(target)


async def test_manifest_edited_without_its_checksum(archive: Path, target: Place,
                                                    tmp_path: Path) -> None:
    edited = rewritten(archive, tmp_path / "edited.tar.gz",
                       lambda m: m["tables"][0].update(rows=5), checksum=False)
    assert refused(parley("restore", str(edited), *target.args())) == (
        "parley: the archive's manifest does not match its checksum: corrupted")
    edited = rewritten(archive, tmp_path / "counted.tar.gz",
                       lambda m: m["tables"][0].update(rows=5))
    assert refused(parley("restore", str(edited), *target.args())) == (
        "parley: table users does not hold the 5 rows the manifest counts")
    await nothing_written(target)


async def test_non_empty_target_unless_forced(archive: Path, source: Place,
                                              target: Place) -> None:
    expected = await dump(source.url)
    assert parley("restore", str(archive), *target.args()).returncode == 0
    assert await dump(target.url) == expected
    assert await image_files(target) == {(2, PNG_NAME): PNG}
    assert refused(parley("restore", str(archive), *target.args()),
                   "is not empty (1 users, 2 messages)", "--force")
    assert await dump(target.url) == expected
    done = parley("restore", str(archive), "--force", *target.args())
    assert done.returncode == 0, done.stderr
    assert await dump(target.url) == expected
    assert await image_files(target) == {(2, PNG_NAME): PNG}


async def test_a_migrated_database_counts_as_empty(archive: Path, source: Place,
                                                   target: Place) -> None:
    assert parley("migrate", *target.args()).returncode == 0
    done = parley("restore", str(archive), *target.args())
    assert done.returncode == 0, done.stderr
    assert await dump(target.url) == await dump(source.url)


def test_backup_failures(source: Place, tmp_path: Path) -> None:
    """What ``parley backup`` cannot do gets one line, exit status 1, and no archive."""
    out = tmp_path / "out.tar.gz"
    refused(parley("backup", str(out), "--data-dir", str(tmp_path / "nothing")),
            f"there is no database at {tmp_path / 'nothing' / 'parley.db'}")
    refused(parley("backup", str(out), "--database-url",
                   "postgresql://postgres@127.0.0.1:1/parley"),
            "cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/parley")
    refused(parley("backup", str(tmp_path / "no" / "such" / "dir.tar.gz"), *source.args()),
            "cannot write", "No such file or directory")
    newer = Place(tmp_path / "newer")
    newer.data_dir.mkdir()
    shutil.copy(source.data_dir / "parley.db", newer.data_dir / "parley.db")
    db = sqlite3.connect(newer.data_dir / "parley.db")
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0099_future'")
    db.close()
    refused(parley("backup", str(out), *newer.args()),
            "revision 0099_future, which this release of Parley does not know")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer"]


def test_restore_into_an_unreachable_database(archive: Path, tmp_path: Path) -> None:
    refused(parley("restore", str(archive), "--database-url",
                   "postgresql://postgres@127.0.0.1:1/parley", "--data-dir",
                   str(tmp_path / "data")),
            "cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/parley")
    assert not (tmp_path / "data").exists()


async def test_an_image_file_gone_before_it_was_read(source: Place, tmp_path: Path) -> None:
    """An image whose file was deleted (its message removed) after the snapshot began:
    its row is left out, named on stderr and in the manifest; the rest restores."""
    gone = Place(tmp_path / "gone")
    copy_tree(source.data_dir, gone.data_dir)
    remove_file(gone.data_dir / "images" / "2" / PNG_NAME)
    out = tmp_path / "gone.tar.gz"
    done = parley("backup", str(out), *gone.args())
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"parley: image 2/{PNG_NAME} was deleted after the snapshot began; "
                           f"left out\n")
    manifest = json.loads(member(out, "manifest.json"))
    assert manifest["images"] == {"count": 0, "bytes": 0, "missing": [f"2/{PNG_NAME}"]}
    assert [t["rows"] for t in manifest["tables"] if t["name"] == "images"] == [0]
    target = Place(tmp_path / "target")
    assert parley("restore", str(out), *target.args()).returncode == 0
    restored = await dump(target.url)
    assert restored["images"] == []
    assert restored["messages"] == (await dump(source.url))["messages"]
    assert await image_files(target) == {}


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target)


def remove_file(path: Path) -> None:
    path.unlink()


def member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        body = tar.extractfile(name)
        assert body is not None
        return body.read()


async def test_images_go_where_the_target_keeps_them(archive: Path, target: Place) -> None:
    """``--image-store`` of the target decides, whatever the source did: the archive's
    image files (from a SQLite data dir) become rows of a SQLite target told to keep
    them in the database, and files of a PostgreSQL target told to keep files."""
    store = "database" if target.sqlite else "files"
    done = parley("restore", str(archive), "--image-store", store, *target.args())
    assert done.returncode == 0, done.stderr
    assert await image_files(target) == {(2, PNG_NAME): PNG}
    on_disk = sorted(str(p.relative_to(target.data_dir)) for p in target.data_dir.rglob("*")
                     if p.is_file() and "images" in p.parts)
    assert on_disk == ([] if store == "database" else [f"images/2/{PNG_NAME}"])


async def test_a_failing_load_changes_nothing(archive: Path, target: Place,
                                              tmp_path: Path) -> None:
    """An archive whose checksums hold but whose rows cannot be stored (two users with
    one login): the load fails part way, and the target keeps what it held, even with
    --force (PostgreSQL: the one transaction rolls back; SQLite: the new file is
    dropped)."""
    duplicate = b'{"id":2,"login":"alice","login_key":"alice","password_hash":"h",' \
        b'"created_ms":1,"admin":false,"disabled":false,"seen_ms":null}\n'

    def users(manifest: dict[str, Any]) -> None:
        manifest["tables"][0]["rows"] += 1
    bad = rewritten(archive, tmp_path / "bad.tar.gz", users,
                    edits={"tables/users/000000.jsonl": lambda rows: rows + duplicate})
    assert parley("restore", str(archive), *target.args()).returncode == 0
    held = await dump(target.url)
    refused(parley("restore", str(bad), "--force", *target.args()),
            "the restore failed, and nothing was written: ", "login_key")
    assert await dump(target.url) == held
    assert await image_files(target) == {(2, PNG_NAME): PNG}
    if target.sqlite:  # (no parley.db.restoring, no images.restoring left)
        assert sorted(p.name for p in target.data_dir.iterdir()) == ["images", "parley.db"]
    else:
        assert not target.data_dir.exists()
