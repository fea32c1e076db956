"""Settings: one dataclass, filled from flags, then ``PARLEY_*`` variables, then defaults."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .gate import networks

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8080, metadata={"help": "port to listen on (0: any free port)"})
    data_dir: Path = field(
        default=Path("data"), metadata={"help": "where the SQLite database and images live"}
    )
    database_url: str | None = field(
        default=None,
        metadata={"help": "database URL (default: SQLite file in the data dir); "
                  "postgresql://user@host/db is accepted"},
    )
    redis_url: str | None = field(
        default=None, metadata={"help": "Redis URL for fan-out between processes"}
    )
    redis_prefix: str = field(
        default="parley", metadata={"help": "prefix of every Redis key and channel Parley uses"}
    )
    presence_ttl: float = field(
        default=10.0,
        metadata={"help": "seconds after which a silent process's users are taken offline"},
    )
    presence_linger: float = field(
        default=10.0,
        metadata={"help": "seconds a user whose last socket in a chat closed stays in it "
                  "before Left is pushed; a socket of the user back in the chat within "
                  "them pushes nothing (0: Left at once)"},
    )
    image_store: str = field(
        default="auto",
        metadata={"help": "'files' (in the data dir), 'database', or 'auto': "
                  "files with SQLite, the database with PostgreSQL"},
    )
    workers: int = field(default=1, metadata={"help": "server processes sharing the port"})
    max_frame: int = field(default=8 * MiB, metadata={"help": "largest WebSocket frame, bytes"})
    max_image_bytes: int = field(
        default=5 * MiB, metadata={"help": "largest decoded image, bytes"}
    )
    max_image_pixels: int = field(
        default=40_000_000, metadata={"help": "largest image, width x height"}
    )
    image_threads: int = field(
        default=2, metadata={"help": "threads that decode images (a pool of their own)"}
    )
    image_queue: int = field(
        default=8, metadata={"help": "images waiting for a decoding thread, at most"}
    )
    image_memory: int = field(
        default=512 * MiB,
        metadata={"help": "bytes of memory the images being decoded may take together, "
                  "estimated from their headers; over it a message with an image is "
                  "answered 'rate limited'"},
    )
    rate_limit: float = field(
        default=10.0, metadata={"help": "messages a second a user may send, sustained"}
    )
    rate_burst: float = field(
        default=30.0, metadata={"help": "messages a user may send at once"}
    )
    login_rate: float = field(
        default=1.0,
        metadata={"help": "password logins and registrations a second from one address, and "
                  "closed-chat passwords a second from one user, sustained (wrong passwords "
                  "on one account or chat: a tenth of it)"},
    )
    login_burst: float = field(
        default=20.0,
        metadata={"help": "password logins and registrations from one address, and closed-chat "
                  "passwords from one user, at once (wrong passwords on one account or "
                  "chat: a quarter of it)"},
    )
    max_connections_per_ip: int = field(
        default=256,
        metadata={"help": "open WebSockets from one address; its TCP connections of any "
                  "kind are capped at this plus 16 (0: no limit)"},
    )
    head_timeout: float = field(
        default=10.0,
        metadata={"help": "seconds a connection has to send a complete request head, from "
                  "its start or from the end of the previous response (0: no limit)"},
    )
    trusted_proxy: str = field(
        default="",
        metadata={"help": "comma-separated addresses or networks (CIDR) of reverse proxies "
                  "whose X-Forwarded-For gives the client's address"},
    )
    metrics_allow: str = field(
        default="",
        metadata={"help": "comma-separated addresses or networks (CIDR) that may read "
                  "/metrics (default: everyone)"},
    )
    chat_rate: float = field(
        default=10.0,
        metadata={"help": "chat creates and deletes a minute one user may make, sustained"},
    )
    chat_burst: float = field(
        default=10.0, metadata={"help": "chat creates and deletes one user may make at once"}
    )
    max_chats_per_user: int = field(
        default=100, metadata={"help": "chats one user may own at once"}
    )
    allowed_origins: str = field(
        default="",
        metadata={"help": "comma-separated Origins (scheme://host[:port]) allowed to open a "
                  "socket besides this server's own and localhost's; '*' allows any"},
    )
    outbox_limit: int = field(
        default=4 * MiB,
        metadata={"help": "bytes queued for one socket before it is dropped as too slow"},
    )
    heartbeat: float = field(
        default=30.0,
        metadata={"help": "seconds between pings; a socket that does not answer one within "
                  "half of that is dropped, and so is one that reads nothing of what waits "
                  "for it for that long"},
    )
    ws_engine: str = field(
        default="aiohttp",
        metadata={"help": "what carries /ws after the upgrade: 'aiohttp', or 'lean' "
                  "(experimental: a bare asyncio protocol, about a tenth of the memory "
                  "per idle socket)"},
    )
    token_days: float = field(default=30.0, metadata={"help": "days a login token stays valid"})
    hash_threads: int = field(
        default=2, metadata={"help": "threads that hash and check passwords"}
    )
    hash_queue: int = field(
        default=32,
        metadata={"help": "password checks that may wait for a hashing thread; more are "
                  "answered 'rate limited'"},
    )
    argon2_profile: str = field(
        default="default",
        metadata={"help": "password hashing cost: 'default' (RFC 9106 low-memory) or 'test'"},
    )
    sqlite_synchronous: str = field(
        default="FULL", metadata={"help": "SQLite synchronous pragma: FULL or NORMAL"}
    )
    sqlite_busy_ms: int = field(
        default=5000, metadata={"help": "how long a SQLite write waits for a lock, ms"}
    )
    log_format: str = field(default="text", metadata={"help": "'text' or 'json'"})
    log_level: str = field(default="INFO", metadata={"help": "logging level"})

    def __post_init__(self) -> None:
        networks(self.trusted_proxy)
        networks(self.metrics_allow)
        if self.ws_engine not in ("aiohttp", "lean"):
            raise ValueError(f"ws_engine must be aiohttp or lean, not {self.ws_engine!r}")

    @property
    def db_url(self) -> str:
        """The SQLAlchemy async URL of the database."""
        if not self.database_url:
            path = quote(str(self.database_file.resolve()), safe="/")
            return f"sqlite+aiosqlite:///{path}"
        return normalize_database_url(self.database_url)

    @property
    def database_file(self) -> Path:
        """The SQLite database's file (used without a database URL)."""
        return self.data_dir / "parley.db"

    @property
    def images_in_database(self) -> bool:
        if self.image_store == "auto":
            return not self.db_url.startswith("sqlite")
        if self.image_store not in ("files", "database"):
            raise ValueError(
                f"image_store must be auto, files or database, not {self.image_store!r}")
        return self.image_store == "database"

    @property
    def image_dir(self) -> Path:
        return self.data_dir / "images"


def normalize_database_url(url: str) -> str:
    """Accept the plain URLs people write and give SQLAlchemy its async driver."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def _env_name(name: str) -> str:
    return "PARLEY_" + name.upper()


def _convert(kind: Any, raw: str) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


#: the settings of the database and of the log: all ``parley migrate`` takes
DATABASE_SETTINGS = ("data_dir", "database_url", "sqlite_synchronous", "sqlite_busy_ms",
                     "log_format", "log_level")


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                  only: tuple[str, ...] | None = None) -> None:
    """One ``--flag`` per setting (or per setting named in ``only``); each also read from
    ``PARLEY_<NAME>``."""
    for f in dataclasses.fields(Settings):
        if only is not None and f.name not in only:
            continue
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{f.metadata.get('help', '')} [env {_env_name(f.name)}; default {f.default}]",
        )


def settings_from(args: argparse.Namespace | None = None, **overrides: Any) -> Settings:
    """Flags win over environment variables, which win over defaults."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = getattr(args, f.name, None) if args is not None else None
        if raw is None:
            raw = os.environ.get(_env_name(f.name))
        if raw is not None and raw != "":
            kind = str(f.type).replace(" | None", "")
            values[f.name] = _convert(kind, raw)
    values.update(overrides)
    return Settings(**values)
