"""Starting and stopping the servers under test, each pinned to the server core."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import psutil

from parley.testing import PARLEY_SERVE, ServerProcess, ready_line

BENCH = Path(__file__).resolve().parent.parent


# Parley's settings for the benchmark: one process, and limits meant for
# strangers on the internet (per-user message rate, logins and sockets per
# address, chats per user, chats created a minute) lifted, since all the load comes from one address
# and a few users. A setting this Parley does not know is left out.
PARLEY_SETTINGS = (
    ("--workers", "1"),
    ("--rate-limit", "1000000"),
    ("--rate-burst", "1000000"),
    ("--login-rate", "1000000"),
    ("--login-burst", "1000000"),
    ("--max-connections-per-ip", "0"),
    ("--max-chats-per-user", "1000000"),
    ("--chat-rate", "1000000"),
    ("--chat-burst", "1000000"),
    ("--log-level", "WARNING"),
    # the lean WebSocket engine, measured for the idle target (not yet the default)
    ("--ws-engine", "lean"),
)


@functools.cache
def _parley_limits() -> tuple[str, ...]:
    shown = subprocess.run(
        [*PARLEY_SERVE, "--help"], capture_output=True, text=True, check=False
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

    def program(self) -> list[str]:
        """The server's command, before the flags: --host, --port (and --data-dir) first."""
        if self.kind == "parley":
            return list(PARLEY_SERVE)
        runner = [sys.executable] if self.kind == "python" else ["node"]
        return [*runner, str(BENCH / "peers" / self.script)]

    def flags(self) -> tuple[str, ...]:
        return (*_parley_limits(), *self.extra) if self.kind == "parley" else self.extra

    @property
    def announces(self) -> str:
        """Who the server says is listening: Parley, or a peer (chatcore)."""
        return "parley" if self.kind == "parley" else "peer"


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


class RunningServer(ServerProcess):
    """A server of the comparison, started with `taskset -c CORE` (and `nice`) in a
    process group of its own; `pids` are its processes once started."""

    def __init__(
        self,
        spec: ServerSpec,
        core: int,
        log_path: Path,
        data_dir: Path | None,
        nice: int = 0,
        fast_hashing: bool = False,
    ) -> None:
        assert (data_dir is not None) == (spec.kind == "parley"), "Parley alone has a data dir"
        super().__init__(
            data_dir,
            *spec.flags(),
            command=[*pinned(core, nice), *spec.program()],
            ready=ready_line(spec.announces),
            log=log_path,
            env={"PYTHONUNBUFFERED": "1"},
            # the benchmark measures the real password hashing, unless a workload that
            # does not log in by password asks for cheap hashing to register many users
            fast_hashing=fast_hashing,
            process_group=True,
        )
        self.spec = spec
        self.pids: list[int] = []

    def start(self) -> Self:
        super().start()
        time.sleep(0.3)
        self.pids = self._pids()
        return self

    def _pids(self) -> list[int]:
        try:
            root = psutil.Process(self.pid)
            return [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return [self.pid]
