"""A server in a child process, for the tests, the scripts and the benchmark.

``ServerProcess`` starts ``parley serve`` (or any command that announces itself the same
way) on a port of its choosing, waits until it says where it listens, and stops or kills
it. A server is ready when it prints one line on stdout::

    parley: listening on http://127.0.0.1:43117

The benchmark's peer servers print ``peer: listening on ...``: ``ready_line("peer")``.
Whatever else the child writes, on stderr or stdout, goes to the log file.

    server = ServerProcess(tmp / "data", "--rate-limit", "1000").start()
    ...  # server.ws, server.http, server.port, server.log
    assert server.stop() == 0
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Self

#: ``parley serve`` with the running interpreter
PARLEY_SERVE = (sys.executable, "-m", "parley", "serve")
#: cheap password hashing, so that registering a user takes milliseconds
FAST_HASHING = {"PARLEY_ARGON2_PROFILE": "test"}
START_TIMEOUT_S = 60.0


def ready_line(name: str) -> re.Pattern[str]:
    """The line a server called ``name`` prints once it listens (groups ``host``, ``port``)."""
    return re.compile(
        rf"^{re.escape(name)}: listening on http://(?P<host>[^\s:]+):(?P<port>\d+)\s*$")


READY = ready_line("parley")


class ServerNotStarted(RuntimeError):
    """The server exited, or said nothing, before its ready line."""


class ServerProcess:
    """A server in a child process: ``COMMAND --host HOST --port PORT [--data-dir DIR] ARGS``.

    - ``data_dir``: passed as ``--data-dir`` (made if missing); None for servers without one.
    - ``env``: variables over this process's environment (and, with ``fast_hashing``,
      over ``PARLEY_ARGON2_PROFILE=test``).
    - ``command``: the argv before the flags; a prefix such as ``taskset -c 0`` goes first.
    - ``ready``: the ready line, a pattern with a ``port`` group.
    - ``log``: where stderr (and stdout other than the ready line) is appended; by default
      ``server.log`` in the data dir.
    - ``port``: 0 for a free port; after ``start`` the actual port, which a second
      ``start`` (after ``stop``) binds again.
    - ``process_group``: the child leads a process group of its own, and signals go to
      the whole group (the server behind a wrapper, and whatever it starts).
    """

    def __init__(
        self,
        data_dir: Path | None,
        *args: str,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] = PARLEY_SERVE,
        ready: re.Pattern[str] = READY,
        log: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        fast_hashing: bool = True,
        process_group: bool = False,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        if log is None:
            if data_dir is None:
                raise ValueError("a server without a data dir needs a log path")
            log = data_dir / "server.log"
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, **(FAST_HASHING if fast_hashing else {}), **(env or {})}
        self.command = tuple(command)
        self.ready = ready
        self.log = log
        self.host = host
        self.port = port
        self.process_group = process_group
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def argv(self) -> list[str]:
        """The whole command line."""
        data = [] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
        return [*self.command, "--host", self.host, "--port", str(self.port), *data, *self.args]

    def start(self) -> Self:
        """Start the server and wait for its ready line; on failure the error has the log."""
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8",
                errors="replace", env=self.env, start_new_session=self.process_group)
        assert self.proc.stdout is not None
        ready = threading.Event()
        found: list[int] = []
        self._reader = threading.Thread(
            target=self._read, args=(self.proc.stdout, ready, found), daemon=True,
            name=f"stdout of {self.proc.pid}")
        self._reader.start()
        ready.wait(self.start_timeout)
        if not found:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1)  # it may be on its way out: then its own exit code is kept
            self.kill()
            text = self.log.read_text(errors="replace")[-8000:]
            raise ServerNotStarted(
                f"{' '.join(argv)} did not start (exit code {self.proc.returncode}); "
                f"{self.log}:\n{text}")
        self.port = found[0]
        return self

    def _read(self, stdout: IO[str], ready: threading.Event, found: list[int]) -> None:
        """Find the ready line; every other line of stdout goes to the log."""
        try:
            with stdout:
                for line in stdout:
                    match = None if found else self.ready.match(line)
                    if match:
                        found.append(int(match["port"]))
                        ready.set()
                        continue
                    with self.log.open("a") as log:
                        log.write(line)
        except (OSError, ValueError):
            pass  # the log went away, or the pipe was closed: nothing more to read
        finally:
            ready.set()

    @property
    def pid(self) -> int:
        return self._started().pid

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, signum: int) -> None:
        """Signal the server (its whole group with ``process_group``), if it still runs."""
        proc = self._started()
        if proc.poll() is not None:
            return
        if self.process_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, wait (SIGKILL after ``timeout`` seconds); the exit code."""
        proc = self._started()
        self.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            proc.wait()
        self._join()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush."""
        proc = self._started()
        self.send_signal(signal.SIGKILL)
        proc.wait(10)
        self._join()

    def _started(self) -> subprocess.Popen[str]:
        if self.proc is None:
            raise RuntimeError("the server has not been started")
        return self.proc

    def _join(self) -> None:
        # The reader ends, and closes the pipe, once no process holds its other end.
        if self._reader is not None:
            self._reader.join(5)
