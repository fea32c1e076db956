"""Starting and stopping the servers under test, each pinned to the server core."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent.parent
LISTENING = re.compile(rb"listening on http://[\d.]+:(\d+)")
START_TIMEOUT_S = 60.0


# Parley's settings for the benchmark: one process, and limits meant for
# strangers on the internet (per-user message rate, logins and sockets per
# address, chats per user) lifted, since all the load comes from one address
# and a few users. A setting this Parley does not know is left out.
PARLEY_SETTINGS = (
    ("--workers", "1"),
    ("--rate-limit", "1000000"),
    ("--rate-burst", "1000000"),
    ("--login-rate", "1000000"),
    ("--login-burst", "1000000"),
    ("--max-connections-per-ip", "0"),
    ("--max-chats-per-user", "1000000"),
    ("--log-level", "WARNING"),
)


def _parley() -> str:
    return shutil.which("parley", path=str(Path(sys.executable).parent)) or "parley"


@functools.cache
def _parley_limits() -> tuple[str, ...]:
    shown = subprocess.run(
        [_parley(), "serve", "--help"], capture_output=True, text=True, check=False
    ).stdout
    known = set(re.findall(r"--[a-z0-9-]+", shown))
    return tuple(part for flag, value in PARLEY_SETTINGS if flag in known for part in (flag, value))


@dataclass(frozen=True)
class ServerSpec:
    """One server of the comparison."""

    name: str
    label: str
    dialect: str  # how the generator speaks to it: "parley" or "socketio"
    kind: str  # "parley", "python" or "node"
    script: str = ""  # the peer's file under bench/peers
    stores: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)

    def command(self, data_dir: Path | None) -> list[str]:
        if self.kind == "parley":
            assert data_dir is not None
            return [
                _parley(), "serve", "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(data_dir), *_parley_limits(), *self.extra,
            ]  # fmt: skip
        script = str(BENCH / "peers" / self.script)
        runner = [sys.executable] if self.kind == "python" else ["node"]
        return [*runner, script, "--host", "127.0.0.1", "--port", "0", *self.extra]


PARLEY = ServerSpec("parley", "Parley", "parley", "parley", stores=True)
PEERS = (
    ServerSpec("node-ws", "Node ws (bare broadcast)", "parley", "node", "ws_broadcast.mjs"),
    ServerSpec("node-socketio", "Node Socket.IO 4", "socketio", "node", "socketio_server.mjs"),
    ServerSpec("aiohttp-loop", "aiohttp hand-written loop", "parley", "python", "aiohttp_loop.py"),
    ServerSpec(
        "websockets", "websockets broadcast()", "parley", "python", "websockets_broadcast.py"
    ),
    ServerSpec(
        "python-socketio",
        "python-socketio on aiohttp",
        "socketio",
        "python",
        "socketio_aiohttp.py",
    ),
)
SERVERS = (PARLEY, *PEERS)


def firehose(repeat: int) -> ServerSpec:
    """The reference server used to measure the generator alone."""
    return ServerSpec(
        f"firehose-x{repeat}", f"reference (x{repeat} per write)", "parley", "node",
        "firehose.mjs", extra=("--repeat", str(repeat)),
    )  # fmt: skip


def pinned(core: int, nice: int) -> list[str]:
    """The command prefix that runs a program on `core` at priority `nice`."""
    prefix = ["taskset", "-c", str(core)]
    return ["nice", "-n", str(nice), *prefix] if nice else prefix


class RunningServer:
    """A server process started with `taskset -c CORE`; stop() ends it."""

    def __init__(
        self, spec: ServerSpec, core: int, log_path: Path, data_dir: Path | None, nice: int = 0
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [*pinned(core, nice), *spec.command(data_dir)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )
        self.port = self._wait_for_port()
        time.sleep(0.3)
        self.pids = self._pids()

    def _wait_for_port(self) -> int:
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self._log.write(line)
            match = LISTENING.search(line)
            if match:
                return int(match.group(1))
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not start; see {self.log_path}")

    def _pids(self) -> list[int]:
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return [self.process.pid]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
