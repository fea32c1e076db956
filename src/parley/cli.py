"""``parley serve``: start the server; ``parley migrate [--check]``: upgrade the database;
``parley backup OUTPUT`` and ``parley restore ARCHIVE [--force]``; ``parley admin ...``:
manage users and chats (:mod:`parley.admin`); ``parley --version``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web

from . import admin, backup, migrate, restore
from .app import make_app
from .archive import ArchiveError
from .config import DATABASE_SETTINGS, Settings, add_arguments, settings_from
from .gate import Gate, tcp_limit
from .migrations import NewerSchema
from .workers import WORKER_ENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parley", description="Parley chat server")
    parser.add_argument("--version", action="version",
                        version=f"parley {metadata.version('parley')}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chat server (migrating the database "
                                "first)")
    add_arguments(serve)
    upgrade = commands.add_parser(
        "migrate", help="apply the pending database migrations and exit",
        description="Apply the pending database migrations and exit. Exit status 0 when the "
        "database is at the newest revision; with --check, 0 when no migration is pending "
        "and 1 when some are; 1 when the database is newer than this release or cannot be "
        "reached.")
    upgrade.add_argument("--check", action="store_true",
                         help="change nothing: say whether migrations are pending")
    add_arguments(upgrade.add_argument_group("database settings"), DATABASE_SETTINGS)
    _backup_commands(commands)
    admin.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    _setup_logging(settings)
    if args.command == "admin":
        return admin.run(args, settings)
    try:
        if args.command == "migrate":
            return asyncio.run(migrate.run(settings, check=args.check))
        if args.command in ("backup", "restore"):
            os.umask(os.umask(0o077) | 0o077)  # an archive holds password hashes
        if args.command == "backup":
            return backup.run(settings, args.output, level=args.level)
        if args.command == "restore":
            return restore.run(settings, args.archive, force=args.force)
        return serve_forever(settings)
    except (NewerSchema, migrate.Unreachable, backup.BackupError, restore.Refused,
            ArchiveError) as exc:
        return migrate.fail(str(exc))


#: what ``parley backup`` and ``parley restore`` take: the database, and where images go
BACKUP_SETTINGS = (*DATABASE_SETTINGS, "image_store")


def _backup_commands(commands: Any) -> None:
    taking = commands.add_parser(
        "backup", help="write the database and its images to one archive",
        description="Write the whole database and its images to one archive (a gzipped tar "
        "with a manifest), from one snapshot, while servers keep running. Exit status 1 "
        "when the database cannot be read.")
    taking.add_argument("output", type=Path, metavar="OUTPUT", help="the archive to write")
    taking.add_argument("--level", type=int, default=1, choices=range(10),
                        help="gzip level, 0 for none (default 1: fast)")
    add_arguments(taking.add_argument_group("database settings"), BACKUP_SETTINGS)
    loading = commands.add_parser(
        "restore", help="load an archive of 'parley backup' into an empty database",
        description="Check every checksum of the archive, then load it into the database "
        "the settings name (SQLite or PostgreSQL), migrating it to the newest revision. "
        "Exit status 1, with nothing written, when the archive is truncated, corrupted, "
        "foreign or newer than this release, or the target is not empty.")
    loading.add_argument("archive", type=Path, metavar="ARCHIVE")
    loading.add_argument("--force", action="store_true",
                         help="replace everything the target database holds")
    add_arguments(loading.add_argument_group("database settings"), BACKUP_SETTINGS)


def serve_forever(settings: Settings) -> int:
    # What Parley creates (data dir, database, images) is for its own user alone;
    # the admin's umask may only make it stricter.
    os.umask(os.umask(0o077) | 0o077)
    _raise_open_files_limit()
    if settings.workers > 1:
        from .workers import run_workers

        return run_workers(settings)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(_serve(settings))
    return uvloop.run(_serve(settings))


def _raise_open_files_limit() -> None:
    """Every connection is a file handle: take all the operating system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            logging.getLogger("parley").warning("could not raise the open files limit: %s",
                                                exc)
    logging.getLogger("parley").info("open files limit: %s", soft)


async def _serve(settings: Settings) -> int:
    app = make_app(settings)
    # The keep-alive timeout is also the time a connection has for its next request head
    # (with no deadline, aiohttp's own keep-alive timeout stays).
    deadline: dict[str, Any] = (
        {"keepalive_timeout": settings.head_timeout} if settings.head_timeout > 0 else {})
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10,
                           **deadline)
    await runner.setup()
    assert runner.server is not None
    gate = Gate(runner.server, limit=tcp_limit(settings.max_connections_per_ip),
                head_timeout=settings.head_timeout, trusted=settings.trusted_proxy)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        gate, settings.host, settings.port, backlog=4096,
        reuse_port=True if os.environ.get(WORKER_ENV) else None)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host, port = _bound(listener, settings)
    print(f"parley: listening on http://{host}:{port}", flush=True)
    await stop.wait()
    logging.getLogger("parley").info("shutting down")
    listener.close()
    await runner.cleanup()
    return 0


def _bound(listener: asyncio.Server, settings: Settings) -> tuple[str, int]:
    for sock in listener.sockets:
        host, port = sock.getsockname()[:2]
        return (f"[{host}]" if ":" in host else host), port
    return settings.host, settings.port


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


if __name__ == "__main__":
    sys.exit(main())
