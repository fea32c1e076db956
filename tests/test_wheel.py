"""The wheel: ``python -m build`` gives a wheel that, installed by pip into a fresh venv
(no checkout, no editable install), is a whole Parley: the web client, its locales and
every migration are inside, and its ``parley serve`` serves them and a real chat.

One build, one venv, one server, shared by the module's tests: building and installing
take most of the time."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from parley import migrations
from parley.testing import ServerProcess
from round_trip import open_client, visit

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "parley"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def packaged(folder: str) -> dict[str, bytes]:
    """Every file under ``src/parley/FOLDER`` (caches aside), by its name in the wheel."""
    return {
        f"parley/{path.relative_to(SOURCE).as_posix()}": path.read_bytes()
        for path in sorted((SOURCE / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the project's files, so that the build's own files
    (``build/``, ``*.egg-info``) stay out of the checkout."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", out, tree)
    wheels = list(out.glob("*.whl"))
    assert [w.name for w in wheels] == [f"parley-{VERSION}-py3-none-any.whl"]
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed by pip, pinned by requirements.lock (the venv
    is made without pip of its own; this interpreter's pip installs into it)."""
    home = tmp_path_factory.mktemp("venv") / "parley"
    run(sys.executable, "-m", "venv", "--without-pip", home)
    run(sys.executable, "-m", "pip", "--python", home / "bin" / "python", "install", "-q",
        "--disable-pip-version-check", "-c", ROOT / "requirements.lock", wheel)
    return home


@pytest.fixture(scope="module")
def installed_server(venv: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("wheel-data") / "data"
    server = ServerProcess(data, command=(str(venv / "bin" / "parley"), "serve"),
                           env={"PYTHONPATH": ""}).start()
    yield server
    assert server.stop() == 0


def test_the_wheel_holds_the_web_client_the_locales_and_every_migration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for folder in ("static", "migrations"):
            files = packaged(folder)
            missing = sorted(set(files) - names)
            assert missing == [], f"not in the wheel: {missing}"
            for name, data in files.items():
                assert archive.read(name) == data, name
    assert "parley/static/locales/en.json" in names
    assert "parley/static/locales/ru.json" in names
    assert "parley/migrations/env.py" in names
    assert "parley/migrations/script.py.mako" in names
    versions = [n for n in names if n.startswith("parley/migrations/versions/")]
    assert len(versions) == len(migrations.every()) >= 9, versions
    modules = {f"parley/{p.name}" for p in SOURCE.glob("*.py")}
    assert modules <= names
    assert "parley/py.typed" in names


def test_the_installed_parley_is_the_wheels_and_names_its_version(
        venv: Path, tmp_path: Path) -> None:
    where = run(venv / "bin" / "python", "-c", "import parley; print(parley.__file__)",
                cwd=tmp_path).strip()
    assert Path(where).is_relative_to(venv / "lib"), where
    assert run(venv / "bin" / "parley", "--version", cwd=tmp_path) == f"parley {VERSION}\n"


async def test_the_installed_server_serves_the_client_its_locales_and_a_chat(
        installed_server: ServerProcess) -> None:
    server = installed_server
    async with aiohttp.ClientSession() as http:
        async with http.get(server.http + "/") as page:
            assert page.status == 200
            assert page.content_type == "text/html"
            assert await page.read() == (SOURCE / "static" / "index.html").read_bytes()
        for name in ("locales/ru.json", "locales/en.json", "app.js", "style.css"):
            async with http.get(f"{server.http}/static/{name}") as response:
                assert response.status == 200, name
                assert await response.read() == (SOURCE / "static" / name).read_bytes(), name
        async with http.get(server.http + "/healthz") as health:
            assert (health.status, await health.text()) == (200, "ok\n")
    first, second = await open_client(server.ws), await open_client(server.ws)
    try:
        await visit(first, second, "wheeler", "unpacked")
    finally:
        await first.close()
        await second.close()
    # The migrations the server ran at start came from the wheel: the schema is the newest.
    assert server.data_dir is not None
    with contextlib.closing(sqlite3.connect(server.data_dir / "parley.db")) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrations.head(),)]
