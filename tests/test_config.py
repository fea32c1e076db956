"""parley.config: settings from flags, then PARLEY_* variables, then defaults."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import pytest

from parley.config import Settings, add_arguments, normalize_database_url, settings_from
from parley.store import SqlStore


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    settings = settings_from(flags())
    assert settings == Settings()
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8080, Path("data"))
    assert settings.database_url is None
    assert settings.max_image_bytes == 5 * 1024 * 1024
    assert settings.rate_limit == 10.0


def test_defaults_without_args() -> None:
    assert settings_from() == Settings()


def test_every_setting_has_a_flag() -> None:
    args = flags()
    assert sorted(vars(args)) == sorted(f.name for f in dataclasses.fields(Settings))
    assert all(value is None for value in vars(args).values())


def test_flags() -> None:
    settings = settings_from(flags("--host", "0.0.0.0", "--port", "9001", "--data-dir", "/srv/p",
                                   "--rate-limit", "2.5", "--argon2-profile", "test"))
    assert settings.host == "0.0.0.0"
    assert settings.port == 9001
    assert settings.data_dir == Path("/srv/p")
    assert settings.rate_limit == 2.5
    assert settings.argon2_profile == "test"


def test_flag_types_are_converted() -> None:
    settings = settings_from(flags("--port", "9001", "--heartbeat", "5", "--data-dir", "d"))
    assert type(settings.port) is int
    assert type(settings.heartbeat) is float
    assert isinstance(settings.data_dir, Path)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "9002")
    monkeypatch.setenv("PARLEY_DATA_DIR", "/var/lib/parley")
    monkeypatch.setenv("PARLEY_RATE_BURST", "7")
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://p@db/parley")
    monkeypatch.setenv("PARLEY_MAX_IMAGE_PIXELS", "1000")
    settings = settings_from(flags())
    assert settings.port == 9002
    assert type(settings.port) is int
    assert settings.data_dir == Path("/var/lib/parley")
    assert settings.rate_burst == 7.0
    assert type(settings.rate_burst) is float
    assert settings.database_url == "postgresql://p@db/parley"
    assert settings.max_image_pixels == 1000


def test_environment_without_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WORKERS", "4")
    assert settings_from().workers == 4


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "9002")
    monkeypatch.setenv("PARLEY_HOST", "10.0.0.1")
    settings = settings_from(flags("--port", "9003"))
    assert settings.port == 9003
    assert settings.host == "10.0.0.1"


def test_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "")
    assert settings_from(flags()).port == 8080


def test_overrides_win_over_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "9002")
    assert settings_from(flags("--port", "9003"), port=0).port == 0


def test_bad_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "eighty")
    with pytest.raises(ValueError, match="invalid literal for int"):
        settings_from(flags())


def test_unrelated_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("PARLEY_NOT_A_SETTING", "x")
    assert settings_from(flags()) == Settings()


def test_default_db_url_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.db_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'parley.db'}"
    assert settings.image_dir == tmp_path / "d" / "images"


def test_relative_data_dir_db_url_is_absolute() -> None:
    assert Settings(data_dir=Path("data")).db_url == (
        f"sqlite+aiosqlite:///{Path.cwd() / 'data' / 'parley.db'}")


def test_db_url_from_database_url() -> None:
    settings = Settings(database_url="postgres://u:p@h:5432/db")
    assert settings.db_url == "postgresql+asyncpg://u:p@h:5432/db"


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///var/p.db", "sqlite+aiosqlite:///var/p.db"),
        ("sqlite:////abs/p.db", "sqlite+aiosqlite:////abs/p.db"),
        ("sqlite+aiosqlite:///p.db", "sqlite+aiosqlite:///p.db"),
        ("mysql://u@h/db", "mysql://u@h/db"),
    ],
)
def test_normalize_database_url(url: str, normalized: str) -> None:
    assert normalize_database_url(url) == normalized


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("folder", ["plain", "with space", "ünï", "100%20off", "what?", "a#b"])
async def test_default_database_is_created_in_the_data_dir(tmp_path: Path, folder: str) -> None:
    data_dir = tmp_path / folder
    data_dir.mkdir()
    store = await SqlStore.open(Settings(data_dir=data_dir).db_url)
    await store.close()
    assert files_under(tmp_path) == [f"{folder}/parley.db"]


def test_images_as_files_with_sqlite() -> None:
    assert Settings().images_in_database is False


def test_images_in_the_database_with_postgresql() -> None:
    assert Settings(database_url="postgresql://u@h/db").images_in_database is True


def test_image_store_files_with_postgresql() -> None:
    settings = Settings(database_url="postgresql://u@h/db", image_store="files")
    assert settings.images_in_database is False


def test_image_store_database_with_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_IMAGE_STORE", "database")
    assert settings_from(flags()).images_in_database is True


def test_unknown_image_store() -> None:
    with pytest.raises(ValueError, match="image_store must be auto, files or database, not 'disk'"):
        _ = Settings(image_store="disk").images_in_database
