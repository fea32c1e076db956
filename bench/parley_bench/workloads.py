"""The workloads, each on a freshly started server, and their summaries."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from .generator import GeneratorError, run_generator
from .profiles import COMMON, Profile
from .servers import RunningServer, ServerSpec

SERVER_CORE = 0
GENERATOR_CORE = 1
PASSWORD = "bench-password-1"
# Other programs on the machine distort every number: before each workload the
# run waits (bounded) until the rest of the machine uses less than this much.
QUIET_CORES = 0.25


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_for_quiet(limit_s: float) -> float:
    """Waits until the machine is nearly idle, at most `limit_s`; returns the busy cores."""
    deadline = time.monotonic() + limit_s
    busy = 0.0
    while True:
        busy = float(psutil.cpu_percent(interval=0.5)) / 100 * (psutil.cpu_count() or 1)
        if busy < QUIET_CORES or time.monotonic() > deadline:
            break
        log(f"machine busy ({busy:.2f} cores used by other programs), waiting")
    return busy


@dataclass
class Bench:
    """One run: where it writes, its sizes, and the Parley users it registered."""

    profile: Profile
    out_dir: Path
    users: list[dict[str, str]] = field(default_factory=list)
    template: Path | None = None
    counter: int = 0
    nice: int = 0  # scheduling priority of the server and the generator
    waited_s: float = 0.0  # time spent waiting for a quiet machine so far
    fast_hashing: bool = False  # cheap password hashing (registering many users)

    def _data_dir(self, spec: ServerSpec, name: str) -> Path | None:
        if spec.kind != "parley":
            return None
        data_dir = self.out_dir / "data" / name
        if data_dir.exists():
            shutil.rmtree(data_dir)
        if self.template is not None:
            shutil.copytree(self.template, data_dir)
        else:
            data_dir.mkdir(parents=True)
        return data_dir

    def _users_for(self, spec: ServerSpec) -> list[dict[str, str]]:
        if spec.kind == "parley":
            return self.users
        return [{"login": f"peer{i}", "token": f"peer{i}"} for i in range(self.profile.users)]

    def run(self, spec: ServerSpec, workload: str, config: dict[str, Any]) -> dict[str, Any]:
        """Starts `spec` afresh, runs one generator workload against it, stops it."""
        self.counter += 1
        name = f"{spec.name}.{workload}"
        data_dir = self._data_dir(spec, name)
        budget = max(0.0, self.profile.quiet_budget_s - self.waited_s)
        waiting_since = time.monotonic()
        busy_before = wait_for_quiet(min(self.profile.quiet_wait_s, budget))
        self.waited_s += time.monotonic() - waiting_since
        log_path = self.out_dir / f"{name}.server.log"
        server = RunningServer(
            spec, SERVER_CORE, log_path, data_dir, self.nice, self.fast_hashing
        ).start()
        try:
            full = {
                **COMMON,
                **config,
                "mode": config.get("mode", workload),
                "host": "127.0.0.1",
                "port": server.port,
                "dialect": spec.dialect,
                "users": self._users_for(spec),
                "serverPids": server.pids,
                "room": f"{workload}{self.counter}",
            }
            result = run_generator(full, GENERATOR_CORE, self.out_dir, name, self.nice)
            result["busy_cores_before"] = busy_before
            if not server.alive():
                result["server_exited"] = True
            return result
        finally:
            server.stop()
            if data_dir is not None and workload != "register":
                shutil.rmtree(data_dir, ignore_errors=True)

    def register(self, spec: ServerSpec) -> None:
        """Registers the benchmark users once; later workloads copy this data dir."""
        log(f"registering {self.profile.users} users on {spec.label}")
        config = {
            "count": self.profile.users,
            "concurrency": 8,
            "prefix": "bench",
            "password": PASSWORD,
            "hardLimitSeconds": 900,
        }
        result = self.run(spec, "register", config)
        self.users = result["users"]
        self.template = self.out_dir / "data" / f"{spec.name}.register"
        log(f"registered in {result['seconds']:.1f} s")


def _attempt(label: str, action: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = action()
        return result
    except (GeneratorError, RuntimeError, OSError, KeyError) as exc:
        log(f"{label} failed: {exc}")
        return {"error": str(exc)}


def fanout(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    def go() -> dict[str, Any]:
        result = bench.run(spec, "fanout", bench.profile.fanout)
        best = result.get("best") or {}
        return {
            "max_deliveries_per_s": result["max_deliveries_per_s"],
            "p50_ms": (best.get("latency") or {}).get("p50_ms"),
            "p99_ms": (best.get("latency") or {}).get("p99_ms"),
            "server_cpu_ms_per_1000": best.get("server_cpu_ms_per_1000"),
            "limited_by_generator": result["limited_by_generator"],
            "connections": result["connections"],
            "other_cpu": max((step["other_cpu"] for step in result["steps"]), default=0.0),
            "steps": [_step_point(step) for step in result["steps"]],
        }

    log(f"{spec.label}: fan-out")
    return _attempt(f"{spec.name} fan-out", go)


def _step_point(step: dict[str, Any]) -> dict[str, Any]:
    latency = step["latency"]
    return {
        "offered": step.get("offered_deliveries_per_s"),
        "achieved": step["deliveries_per_s"],
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "max_ms": latency["max_ms"],
        "lost": step["lost"],
        "errors": step["error_count"],
        "pass": step.get("pass", False),
        "generator_cpu": step["generator_cpu"],
        "server_cpu": step["server_cpu"],
        "other_cpu": step["other_cpu"],
        "retried": step.get("retried", False),
    }


def rooms(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    def go() -> dict[str, Any]:
        result = bench.run(spec, "rooms", bench.profile.rooms)
        step = result["step"]
        return {
            "max_deliveries_per_s": result["max_deliveries_per_s"],
            "offered_deliveries_per_s": step["offered_deliveries_per_s"],
            "deliveries_per_s": step["deliveries_per_s"],
            "p50_ms": step["latency"]["p50_ms"],
            "p99_ms": step["latency"]["p99_ms"],
            "server_cpu_ms_per_1000": step["server_cpu_ms_per_1000"],
            "server_cpu": step["server_cpu"],
            "lost": step["lost"],
            "errors": step["error_count"],
            "valid": not step["generator_saturated"],
            "limited_by_generator": result["limited_by_generator"],
            "generator_cpu": step["generator_cpu"],
            "other_cpu": step["other_cpu"],
            "connections": result["connections"],
            "steps": [_step_point(s) for s in result["steps"]],
        }

    log(f"{spec.label}: many rooms")
    return _attempt(f"{spec.name} rooms", go)


def idle(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    def go() -> dict[str, Any]:
        result = bench.run(spec, "idle", {**bench.profile.idle, "hardLimitSeconds": 900})
        return {
            "connections": result["connections"],
            "alive": result["alive"],
            "bytes_per_connection": result["bytes_per_connection"],
            "rss_before": result["rss_before"],
            "rss_after": result["rss_after"],
            "setup_s": result["setup_s"],
            "other_cpu_while_settling": result["other_cpu"],
        }

    log(f"{spec.label}: idle")
    return _attempt(f"{spec.name} idle", go)


def _closed_loop_summary(result: dict[str, Any]) -> dict[str, Any]:
    step = result["step"]
    return {
        "acked_per_s": step["acked_per_s"],
        "deliveries_per_s": step["deliveries_per_s"],
        "ack_p50_ms": step["ack_latency"]["p50_ms"],
        "ack_p99_ms": step["ack_latency"]["p99_ms"],
        "p99_ms": step["latency"]["p99_ms"],
        "lost": step["lost"],
        "errors": step["error_count"],
        "error_kinds": step["errors"],
        "server_cpu": step["server_cpu"],
        "valid": not step["generator_saturated"],
        "generator_cpu": step["generator_cpu"],
        "other_cpu": step["other_cpu"],
        "connections": result["connections"],
    }


def store(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    log(f"{spec.label}: store")
    return _attempt(
        f"{spec.name} store",
        lambda: _closed_loop_summary(bench.run(spec, "store", bench.profile.store)),
    )


def images(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    log(f"{spec.label}: images")
    return _attempt(
        f"{spec.name} images",
        lambda: _closed_loop_summary(bench.run(spec, "images", bench.profile.images)),
    )


def changes(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    """Edits in one room, closed loop: changes per second and their delivery latency."""
    log(f"{spec.label}: changes")
    return _attempt(
        f"{spec.name} changes",
        lambda: _closed_loop_summary(bench.run(spec, "changes", bench.profile.changes)),
    )


def calibrate(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    """The generator alone: fan-out against the reference server until it saturates."""
    repeat = int(spec.extra[-1])
    config = {
        **bench.profile.fanout,
        "maxSeconds": min(bench.profile.fanout["maxSeconds"], 60),
        "repeat": repeat,
        "startRate": 50_000 * repeat**0.5,
        "factor": 1.3 if bench.profile.name == "full" else 1.6,
        "refine": 0,
        "p99LimitMs": 1000,
    }

    def go() -> dict[str, Any]:
        result = bench.run(spec, "calibrate", {**config, "mode": "fanout"})
        steps = result["steps"]
        best = result.get("best") or {}
        per_cpu = [s["deliveries_per_s"] / s["generator_cpu"] for s in steps if s["generator_cpu"]]
        return {
            "repeat": repeat,
            "max_deliveries_per_s": result["max_deliveries_per_s"],
            "generator_cpu_at_max": best.get("generator_cpu"),
            "frames_per_generator_cpu_s": max(per_cpu) if per_cpu else None,
            "frames_per_generator_cpu_s_first": per_cpu[0] if per_cpu else None,
            "limited_by_generator": result["limited_by_generator"],
            "steps": [_step_point(step) for step in steps],
        }

    log(f"generator ceiling against {spec.label}")
    return _attempt(f"calibrate x{repeat}", go)


def tails(bench: Bench, spec: ServerSpec) -> dict[str, Any]:
    """One sender at a few low fixed rates: the latency of every delivery, per rate and
    per 1-s window (its p99 and maximum), so that rare spikes show."""

    def go() -> dict[str, Any]:
        config = {**bench.profile.tails, "hardLimitSeconds": 900}
        result = bench.run(spec, "tails", config)
        rates = [
            {
                "rate": step["rate"],
                "started_ms": step["started_ms"],  # Unix time, ms: to align with server logs
                "sent": step["sent"],
                "delivered": step["delivered"],
                "lost": step["lost"],
                "errors": step["error_count"],
                "p50_ms": step["latency"]["p50_ms"],
                "p99_ms": step["latency"]["p99_ms"],
                "p999_ms": step["latency"]["p999_ms"],
                "max_ms": step["latency"]["max_ms"],
                "server_cpu": step["server_cpu"],
                "generator_cpu": step["generator_cpu"],
                "other_cpu": step["other_cpu"],
                "windows": step["windows"],
            }
            for step in result["steps"]
        ]
        return {
            "connections": result["connections"],
            "senders": result["senders"],
            "rates": rates,
            "lost": sum(r["lost"] for r in rates),
            "errors": sum(r["errors"] for r in rates),
            "other_cpu": max((r["other_cpu"] for r in rates), default=0.0),
            "valid": all(r["generator_cpu"] < COMMON["generatorCpuLimit"] for r in rates),
            "server_exited": bool(result.get("server_exited")),
        }

    log(f"{spec.label}: steady tails")
    return _attempt(f"{spec.name} tails", go)
