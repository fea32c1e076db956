"""What the run ran on: recorded next to every result."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from .servers import BENCH


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def _node_package(name: str) -> str:
    try:
        data = json.loads((BENCH / "node_modules" / name / "package.json").read_text())
        return str(data["version"])
    except (OSError, ValueError, KeyError):
        return "missing"


def _python_package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _output(["node", "--version"]),
        "parley_commit": _output(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"]),
        "packages": {
            "parley": _python_package("parley"),
            "aiohttp": _python_package("aiohttp"),
            "msgspec": _python_package("msgspec"),
            "uvloop": _python_package("uvloop"),
            "websockets": _python_package("websockets"),
            "python-socketio": _python_package("python-socketio"),
            "socket.io": _node_package("socket.io"),
            "ws": _node_package("ws"),
        },
    }
