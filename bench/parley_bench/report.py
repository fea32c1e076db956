"""Tables (Markdown and JSON) of every server x workload, with Parley/peer ratios."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, Any]

TARGET_ROOMS_P99_MS = 20.0
TARGET_IDLE_BYTES = 12 * 1024
TARGET_STORE_PER_S = 10_000.0
# Cores' worth of CPU used by other programs during a measurement above which
# it is marked as taken on a busy machine.
BUSY_CORES = 0.3


def _get(results: Results, server: str, workload: str, key: str) -> Any:
    entry = results["servers"].get(server, {}).get(workload)
    if not isinstance(entry, dict) or "error" in entry:
        return None
    return entry.get(key)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _flag(results: Results, server: str, workload: str) -> str:
    """Short marks on a measurement that failed or cannot be trusted (see LEGEND)."""
    entry = results["servers"].get(server, {}).get(workload)
    if entry is None:
        return ""
    if "error" in entry:
        return " [failed]"
    marks = []
    if entry.get("valid") is False or entry.get("limited_by_generator"):
        marks.append("gen")
    if (entry.get("other_cpu") or 0) > BUSY_CORES:
        marks.append(f"busy {entry['other_cpu']:.1f}")
    if entry.get("lost"):
        marks.append(f"lost {entry['lost']:,}")
    if entry.get("errors"):
        marks.append(f"err {entry['errors']:,}")
    if entry.get("alive") is not None and entry["alive"] < entry["connections"]:
        marks.append(f"dropped {entry['connections'] - entry['alive']:,}")
    return f" [{'; '.join(marks)}]" if marks else ""


LEGEND = (
    "Marks: **gen** the generator's core was saturated (invalid); **busy N** other programs"
    " used N cores meanwhile (not comparable, rerun on a quiet machine); **lost N**"
    " deliveries that never arrived; **err N** requests refused; **dropped N** connections"
    " closed by the server; **failed** the workload did not complete (see its logs)."
)


def _kb(value: Any) -> str:
    return _num(None if value is None else value / 1024, 1)


def _one(value: Any) -> str:
    return _num(value, 1)


# (column title, workload, key, formatter, higher is better)
COLUMNS: list[tuple[str, str, str, Callable[[Any], str], bool]] = [
    (
        "fan-out deliveries/s (p99 ≤ 100 ms, none lost)",
        "fanout",
        "max_deliveries_per_s",
        _num,
        True,
    ),
    (
        "many rooms deliveries/s (p99 ≤ 100 ms, none lost)",
        "rooms",
        "max_deliveries_per_s",
        _num,
        True,
    ),
    ("many rooms p50 ms at half that", "rooms", "p50_ms", _ms, False),
    ("many rooms p99 ms at half", "rooms", "p99_ms", _ms, False),
    (
        "many rooms server CPU ms / 1,000 deliveries at half",
        "rooms",
        "server_cpu_ms_per_1000",
        _one,
        False,
    ),
    ("idle KB / connection", "idle", "bytes_per_connection", _kb, False),
    ("store messages/s", "store", "acked_per_s", _num, True),
    ("images/s into the room", "images", "acked_per_s", _one, True),
    ("edits/s in one room", "changes", "acked_per_s", _num, True),
    ("edit delivery p99 ms", "changes", "p99_ms", _ms, False),
]


def main_table(results: Results) -> str:
    head = "| server | " + " | ".join(title for title, *_ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = [head, rule]
    for name, label in results["labels"].items():
        cells = []
        for _title, workload, key, fmt, _higher in COLUMNS:
            if workload not in results["servers"].get(name, {}):
                cells.append("n/a")
                continue
            cells.append(fmt(_get(results, name, workload, key)) + _flag(results, name, workload))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def rooms_rates_table(results: Results) -> str:
    rows = [
        "| server | offered deliveries/s | delivered/s | connections | server CPU"
        " | generator CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("rooms")
        if not isinstance(entry, dict) or "error" in entry:
            continue
        rows.append(
            f"| {label} | {entry['offered_deliveries_per_s']:,.0f}"
            f" | {entry['deliveries_per_s']:,.0f} | {entry['connections']:,}"
            f" | {entry['server_cpu']:.0%} | {entry['generator_cpu']:.0%} |"
        )
    return "\n".join(rows)


def ratios(results: Results) -> dict[str, dict[str, float | None]]:
    """Parley's value divided by each peer's, per metric, from the same run."""
    out: dict[str, dict[str, float | None]] = {}
    for name in results["labels"]:
        if name == "parley":
            continue
        row: dict[str, float | None] = {}
        for _title, workload, key, _fmt, _higher in COLUMNS:
            mine = _get(results, "parley", workload, key)
            theirs = _get(results, name, workload, key)
            ok = isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs
            row[f"{workload}.{key}"] = mine / theirs if ok else None
        out[name] = row
    return out


def ratio_table(results: Results) -> str:
    table = ratios(results)
    keys = [(title, f"{workload}.{key}", higher) for title, workload, key, _f, higher in COLUMNS]
    keys = [k for k in keys if any(row.get(k[1]) is not None for row in table.values())]
    if not keys:
        return "_No ratio: Parley or the peers have no result in this run._"
    head = "| Parley / peer | " + " | ".join(
        f"{title} ({'higher' if higher else 'lower'} is better)" for title, _k, higher in keys
    )
    rows = [head + " |", "|---|" + "---:|" * len(keys)]
    for name, row in table.items():
        cells = []
        for _t, k, _h in keys:
            workload = k.split(".", 1)[0]
            marked = _flag(results, "parley", workload) or _flag(results, name, workload)
            value = "-" if row[k] is None else f"{row[k]:.2f}x"
            cells.append(f"{value} ?" if marked and row[k] is not None else value)
        rows.append(f"| {results['labels'][name]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """Parley's targets: (target, measured, met)."""
    out: list[tuple[str, str, bool | None]] = []
    mine = _get(results, "parley", "fanout", "max_deliveries_per_s")
    sio = _get(results, "node-socketio", "fanout", "max_deliveries_per_s")
    met = None if mine is None or sio is None else mine >= sio
    out.append(("fan-out deliveries/s ≥ Node Socket.IO", f"{_num(mine)} vs {_num(sio)}", met))
    p99 = _get(results, "parley", "rooms", "p99_ms")
    rate = _get(results, "parley", "rooms", "offered_deliveries_per_s")
    met = None if p99 is None else p99 <= TARGET_ROOMS_P99_MS
    shown = f"{_ms(p99)} ms at {_num(rate)}/s"
    out.append(("many rooms p99 ≤ 20 ms at half its maximum rate", shown, met))
    per = _get(results, "parley", "idle", "bytes_per_connection")
    conns = _get(results, "parley", "idle", "connections")
    met = None if per is None else per <= TARGET_IDLE_BYTES
    shown = "-" if per is None else f"{per / 1024:.1f} KB at {conns:,}"
    out.append(("idle ≤ 12 KB per connection at 10,000", shown, met))
    rate = _get(results, "parley", "store", "acked_per_s")
    met = None if rate is None else rate >= TARGET_STORE_PER_S
    out.append(("store ≥ 10,000 messages/s on SQLite", f"{_num(rate)}/s", met))
    return out


def targets_table(results: Results) -> str:
    rows = ["| Parley target | measured | met |", "|---|---:|:---:|"]
    for target, measured, met in targets(results):
        rows.append(f"| {target} | {measured} | {'-' if met is None else 'yes' if met else 'no'} |")
    return "\n".join(rows)


def calibration_table(results: Results) -> str:
    rows = [
        "| reference server | deliveries/s held with generator < 90 % CPU | generator CPU there"
        " | frames per generator CPU-second, lowest step | same, best step |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in results.get("calibration", []):
        if "error" in entry:
            rows.append(f"| x{entry.get('repeat', '?')} | failed: {entry['error']} | | | |")
            continue
        cpu = entry["generator_cpu_at_max"]
        rows.append(
            f"| {entry['repeat']} frame(s) per write | {_num(entry['max_deliveries_per_s'])}"
            f" | {'-' if cpu is None else f'{cpu:.0%}'}"
            f" | {_num(entry.get('frames_per_generator_cpu_s_first'))}"
            f" | {_num(entry['frames_per_generator_cpu_s'])} |"
        )
    return "\n".join(rows)


def fanout_steps_table(results: Results) -> str:
    rows = [
        "| server | offered/s | delivered/s | p50 ms | p99 ms | lost | server CPU"
        " | generator CPU | others' CPU | pass |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("fanout")
        if not isinstance(entry, dict) or "error" in entry:
            continue
        for step in entry["steps"]:
            rows.append(
                f"| {label} | {_num(step['offered'])} | {_num(step['achieved'])}"
                f" | {_ms(step['p50_ms'])} | {_ms(step['p99_ms'])} | {step['lost']:,}"
                f" | {step['server_cpu']:.0%} | {step['generator_cpu']:.0%}"
                f" | {step.get('other_cpu', 0):.0%}"
                f" | {'retried' if step.get('retried') else 'yes' if step['pass'] else 'no'} |"
            )
    return "\n".join(rows)


def markdown(results: Results, plots: list[str]) -> str:
    """The generated part of the report."""
    machine = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    parts = [
        f"Run `{results['command']}` ({results['profile']} mode) on {results['started']},"
        f" {results['duration_s'] / 60:.1f} minutes.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB,"
        f" Linux {machine['kernel']}, Python {machine['python']}, Node {machine['node']};"
        f" Parley at commit {machine['parley_commit']}. Packages: {packages}.",
        "",
        "Servers on core 0 and the generator on core 1 (`taskset`),"
        f" both at scheduling priority `nice {results.get('nice', 0)}`.",
        "",
        "### All servers",
        "",
        main_table(results),
        "",
        LEGEND,
        "",
        "### Parley / peer, same run",
        "",
        ratio_table(results),
        "",
        "**?**: one of the two measurements carries a mark in the table above.",
        "",
        "### Parley's targets",
        "",
        targets_table(results),
        "",
        "### Many rooms at half of each server's own many-rooms maximum",
        "",
        rooms_rates_table(results),
        "",
        "### The generator alone",
        "",
        calibration_table(results),
        "",
    ]
    for plot in plots:
        parts += [f"![{plot}]({plot})", ""]
    parts += ["### Fan-out steps", "", fanout_steps_table(results), ""]
    return "\n".join(parts)
