"""The activity workload (Parley only): what the ``activity`` pushes cost.

A room A of ``members`` sockets, one user each; ``away`` of them then choose room B,
the rest stay in A and some of them send into A. *With pushes* the away users chose
A once, so they are its members and every message in A owes each of their sockets an
``activity`` push (coalesced to one per socket per chat per second); *without*, they
never chose A: the same sockets, the same messages, no pushes. The two variants run
alternately, ``repeats`` times each, each on a freshly started server; the tables give
the median of each number. `bash bench/run --workload activity` runs it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from .profiles import PROFILES
from .servers import PARLEY
from .workloads import Bench, log

# Sizes: the full run is the one the issue asks for (1,000 members, 900 away). The
# server's CPU is measured until every delivery of the step arrived (at most drainMs),
# so that a server that fell behind is charged for all the work of the step's messages.
SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "members": 200, "away": 180, "senders": 2, "rate": 50, "stepSeconds": 3.0,
        "window": 8, "drainMs": 5000, "settleMs": 1500, "pauseMs": 1500,
    },
    "full": {
        "members": 1000, "away": 900, "senders": 4, "rate": 50, "stepSeconds": 10.0,
        "window": 8, "drainMs": 15000, "settleMs": 3000, "pauseMs": 1500,
    },
}  # fmt: skip
VARIANTS = (("with", True), ("without", False))

# (label, key of a step's summary, format) for the tables
COLUMNS = (
    ("messages/s", "messages_per_s", "{:,.0f}"),
    ("message deliveries/s", "deliveries_per_s", "{:,.0f}"),
    ("activity frames/s", "activity_per_s", "{:,.0f}"),
    ("activity/s per away socket", "activity_per_socket_s", "{:.2f}"),
    ("server CPU (cores)", "server_cpu", "{:.2f}"),
    ("server CPU ms / 1,000 messages", "server_cpu_ms_per_1000_messages", "{:,.0f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("lost", "lost", "{:.0f}"),
    ("others' CPU (cores)", "other_cpu", "{:.2f}"),
)


def _summary(step: dict[str, Any], away: int) -> dict[str, Any]:
    return {
        "messages": step["sent"],
        "messages_per_s": step["messages_per_s"],
        "deliveries_per_s": step["deliveries_per_s"],
        "activity_frames": step["activity_frames"],
        "activity_per_s": step["activity_per_s"],
        "activity_per_socket_s": step["activity_per_s"] / away if away else 0.0,
        "server_cpu": step["server_cpu"],
        "server_cpu_ms_per_1000_messages": step["server_cpu_ms_per_1000_messages"],
        "p50_ms": step["latency"]["p50_ms"],
        "p99_ms": step["latency"]["p99_ms"],
        "lost": step["lost"],
        "errors": step["error_count"],
        "generator_cpu": step["generator_cpu"],
        "other_cpu": step["other_cpu"],
    }


def _one(bench: Bench, sizes: dict[str, Any], variant: str, pushes: bool) -> dict[str, Any]:
    config = {**sizes, "mode": "activity", "pushes": pushes, "hardLimitSeconds": 600}
    result = bench.run(PARLEY, f"activity-{variant}", config)
    away = int(result["away"])
    return {
        "variant": variant,
        "connections": result["connections"],
        "present": result["present"],
        "away": away,
        "senders": result["senders"],
        "activity_to_present": result["activity_to_present"],
        "busy_cores_before": result.get("busy_cores_before"),
        "fixed": _summary(result["fixed"], away),
        "max": _summary(result["max"], away),
    }


def medians(runs: list[dict[str, Any]], variant: str, step: str) -> dict[str, float]:
    """The median of each number of ``step`` over the runs of ``variant``."""
    mine = [run[step] for run in runs if run.get("variant") == variant and step in run]
    if not mine:
        return {}
    keys = [key for key, value in mine[0].items() if isinstance(value, int | float)]
    return {
        key: statistics.median(float(m[key]) for m in mine if m.get(key) is not None)
        for key in keys
        if any(m.get(key) is not None for m in mine)
    }


def _machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']},"
        f" Node {machine['node']}, Parley {machine['parley_commit']}"
    )


def markdown(results: dict[str, Any]) -> str:
    """The tables of one run: each step, with and without pushes, medians."""
    runs: list[dict[str, Any]] = results["runs"]
    sizes = results["sizes"]
    done = [run for run in runs if "error" not in run]
    lines = [
        f"`{results['command']}`, {results['started']}; {_machine(results['machine'])}.",
        "",
        f"{sizes['members']:,} sockets, one user each; {sizes['members'] - sizes['away']:,}"
        f" in room A, {sizes['away']:,} in room B; {sizes['senders']} senders in A."
        f" Medians of {results['repeats']} runs of each variant (interleaved).",
        "",
    ]
    steps = (
        ("fixed", f"Fixed rate: {sizes['rate']:,} messages/s for {sizes['stepSeconds']:g} s"),
        ("max", f"Closed loop: {sizes['window']} messages in flight per sender,"
                f" {sizes['stepSeconds']:g} s (the highest rate sustained)"),
    )  # fmt: skip
    for step, title in steps:
        lines += [f"**{title}**", "", "| | with pushes | without | with / without |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        with_, without = medians(done, "with", step), medians(done, "without", step)
        for label, key, fmt in COLUMNS:
            a, b = with_.get(key), without.get(key)
            ratio = f"{a / b:.2f}" if a is not None and b else ""
            shown = [fmt.format(v) if v is not None else "" for v in (a, b)]
            lines.append(f"| {label} | {shown[0]} | {shown[1]} | {ratio} |")
        lines.append("")
    busy = [run["busy_cores_before"] for run in done if run.get("busy_cores_before") is not None]
    if busy:
        lines.append(
            f"Other programs used {min(busy):.2f} to {max(busy):.2f} cores just before the"
            " runs (the machine is shared)."
        )
    failed = [run for run in runs if "error" in run]
    for run in failed:
        lines.append(f"- a run {run['variant']} pushes failed: {run['error']}")
    return "\n".join(lines) + "\n"


def run(
    quick: bool, repeats: int, out: Path | None, nice: int, command: str, machine: dict[str, Any]
) -> tuple[dict[str, Any], Path]:
    """Registers the users once, then runs both variants ``repeats`` times, alternately."""
    mode = "quick" if quick else "full"
    sizes = SIZES[mode]
    profile = dataclasses.replace(PROFILES[mode], users=sizes["members"])
    out_dir = out or Path(__file__).resolve().parent.parent / "results" / (
        time.strftime("%Y%m%d-%H%M%S") + f"-activity-{mode}"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": command, "workload": "activity", "profile": mode,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine, "sizes": sizes, "repeats": repeats, "runs": [],
    }  # fmt: skip
    bench = Bench(profile, out_dir, nice=nice, fast_hashing=True)
    # no workload logs in by password: cheap hashing makes registering 1,000 users quick
    bench.register(PARLEY)
    bench.fast_hashing = False
    for repeat in range(repeats):
        for variant, pushes in VARIANTS:
            log(f"activity, {variant} pushes, run {repeat + 1} of {repeats}")
            try:
                results["runs"].append(_one(bench, sizes, variant, pushes))
            except (RuntimeError, OSError, KeyError) as exc:
                log(f"activity {variant} failed: {exc}")
                results["runs"].append({"variant": variant, "error": str(exc)})
            (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    results["medians"] = {
        variant: {step: medians(results["runs"], variant, step) for step in ("fixed", "max")}
        for variant, _ in VARIANTS
    }
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "results.md").write_text(markdown(results))
    return results, out_dir
