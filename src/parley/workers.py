"""``parley serve --workers N``: N server processes sharing one port.

The parent applies the migrations once, picks the port, starts N children
that each listen on it with ``SO_REUSEPORT`` (the kernel spreads new
connections over them), restarts a child that dies, and on SIGTERM passes the
signal on and waits for all of them. The children are whole servers; they
need Redis (``--redis-url``) to behave as one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from .config import Settings
from .store import SqlStore

log = logging.getLogger(__name__)

#: set in a child's environment: listen with SO_REUSEPORT
WORKER_ENV = "PARLEY_WORKER_OF"


def run_workers(settings: Settings) -> int:
    if not settings.redis_url:
        print("parley: --workers needs --redis-url, so that the processes act as one server",
              file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_migrate(settings))
    port = settings.port or _free_port(settings.host)
    env = {**os.environ, **_environment(settings, port), WORKER_ENV: str(os.getpid())}
    children = [_spawn(env) for _ in range(settings.workers)]
    for child in children:
        _await_ready(child)
    print(f"parley: listening on http://{settings.host}:{port}", flush=True)

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping:
                log.warning("worker %d exited with %s; starting another", child.pid,
                            child.returncode)
                children[i] = _spawn(env)
                _await_ready(children[i])
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    codes = [child.wait() for child in children]
    return 0 if all(code == 0 for code in codes) else 1


async def _migrate(settings: Settings) -> None:
    store = await SqlStore.open(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous,
                                sqlite_busy_ms=settings.sqlite_busy_ms)
    await store.close()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _environment(settings: Settings, port: int) -> dict[str, str]:
    values = dataclasses.asdict(settings) | {"port": port, "workers": 1}
    return {f"PARLEY_{name.upper()}": str(value) for name, value in values.items()
            if value is not None}


def _spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "parley", "serve"], env=env,
                            stdout=subprocess.PIPE, text=True)


def _await_ready(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("parley: listening on "):
        raise RuntimeError(f"a worker did not start (exit code {child.wait()})")
