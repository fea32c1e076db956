"""``parley serve``: start the server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from aiohttp import web

from .app import make_app
from .config import Settings, add_arguments, settings_from
from .workers import WORKER_ENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parley", description="Parley chat server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chat server")
    add_arguments(serve)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    _setup_logging(settings)
    if args.command == "serve":
        return serve_forever(settings)
    return 2


def serve_forever(settings: Settings) -> int:
    if settings.workers > 1:
        from .workers import run_workers

        return run_workers(settings)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(_serve(settings))
    return uvloop.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    app = make_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096,
                       reuse_port=True if os.environ.get(WORKER_ENV) else None)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host, port = _bound(site)
    print(f"parley: listening on http://{host}:{port}", flush=True)
    await stop.wait()
    logging.getLogger("parley").info("shutting down")
    await runner.cleanup()
    return 0


def _bound(site: web.TCPSite) -> tuple[str, int]:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        return (f"[{host}]" if ":" in host else host), port
    return site._host or "127.0.0.1", site._port


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
