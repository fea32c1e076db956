"""Tables (Markdown and JSON) of every server x workload, with Parley/peer ratios."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, Any]

TARGET_ROOMS_P99_MS = 20.0
TARGET_ROOMS_VS_WS = 1.0  # many rooms deliveries/s, at least this times Node ws's
TARGET_FANOUT_VS_WS = 4.0  # fan-out deliveries/s, at least this times Node ws's
TARGET_IDLE_BYTES = 6 * 1024
TARGET_STORE_PER_S = 10_000.0
TARGET_TAILS_P99_MS = 15.0
TARGET_TAILS_MAX_MS = 50.0
WS = "node-ws"
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


def _at_least(mine: Any, theirs: Any, times: float) -> tuple[str, bool | None]:
    """`mine` against `times` x `theirs`: (shown, met)."""
    if mine is None or theirs is None:
        return f"{_num(mine)} vs {_num(theirs)}", None
    ratio = f" ({mine / theirs:.2f}x)" if theirs else ""
    return f"{_num(mine)} vs {_num(theirs)}{ratio}", mine >= times * theirs


def _tails_run(results: Results) -> bool:
    return any("tails" in entry for entry in results["servers"].values())


def tails_rates(results: Results, server: str) -> list[dict[str, Any]]:
    """The steady-tails measurements of `server`, one per rate ([] when not run)."""
    rates: list[dict[str, Any]] = _get(results, server, "tails", "rates") or []
    return rates


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """Parley's targets: (target, measured, met)."""
    out: list[tuple[str, str, bool | None]] = []
    for workload, times in (("fanout", TARGET_FANOUT_VS_WS), ("rooms", TARGET_ROOMS_VS_WS)):
        shown, met = _at_least(
            _get(results, "parley", workload, "max_deliveries_per_s"),
            _get(results, WS, workload, "max_deliveries_per_s"),
            times,
        )
        name = "fan-out" if workload == "fanout" else "many rooms"
        out.append((f"{name} deliveries/s ≥ {times:.1f}x Node ws", shown, met))
    p99 = _get(results, "parley", "rooms", "p99_ms")
    rate = _get(results, "parley", "rooms", "offered_deliveries_per_s")
    met = None if p99 is None else p99 <= TARGET_ROOMS_P99_MS
    shown = f"{_ms(p99)} ms at {_num(rate)}/s"
    out.append(("many rooms p99 ≤ 20 ms at half its maximum rate", shown, met))
    per = _get(results, "parley", "idle", "bytes_per_connection")
    ws = _get(results, WS, "idle", "bytes_per_connection")
    conns = _get(results, "parley", "idle", "connections")
    met = None if per is None or ws is None else per <= TARGET_IDLE_BYTES and per <= ws
    shown = "-" if per is None else f"{per / 1024:.1f} KB at {conns:,} vs {_kb(ws)} KB"
    out.append(("idle ≤ 6 KB per connection at 10,000, and ≤ Node ws", shown, met))
    rate = _get(results, "parley", "store", "acked_per_s")
    met = None if rate is None else rate >= TARGET_STORE_PER_S
    out.append(("store ≥ 10,000 messages/s on SQLite", f"{_num(rate)}/s", met))
    for point in tails_rates(results, "parley"):
        p99, top = point["p99_ms"], point["max_ms"]
        met = None
        if p99 is not None and top is not None and not point["lost"]:
            met = p99 <= TARGET_TAILS_P99_MS and top <= TARGET_TAILS_MAX_MS
        elif point["lost"]:
            met = False
        out.append(
            (
                f"steady tails at {point['rate']} messages/s: p99 ≤ 15 ms and max ≤ 50 ms",
                f"p99 {_ms(p99)} ms, max {_ms(top)} ms, lost {point['lost']:,}"
                + (" [busy]" if (point["other_cpu"] or 0) > BUSY_CORES else ""),
                met,
            )
        )
    return out


def targets_table(results: Results) -> str:
    rows = ["| Parley target | measured | met |", "|---|---:|:---:|"]
    for target, measured, met in targets(results):
        rows.append(f"| {target} | {measured} | {'-' if met is None else 'yes' if met else 'no'} |")
    return "\n".join(rows)


def _busy(value: Any) -> str:
    cores = value or 0.0
    return f"{cores:.2f}" + (" [busy]" if cores > BUSY_CORES else "")


def tails_table(results: Results) -> str:
    """Steady tails: server x rate, and Parley / Node ws per rate."""
    rows = [
        "| server | messages/s | sent | deliveries | p50 ms | p99 ms | max ms | lost"
        " | server CPU | generator CPU | others' CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("tails")
        if isinstance(entry, dict) and "error" in entry:
            rows.append(f"| {label} | failed: {entry['error']} | | | | | | | | | |")
        for point in tails_rates(results, name):
            rows.append(
                f"| {label} | {point['rate']} | {point['sent']:,} | {point['delivered']:,}"
                f" | {_ms(point['p50_ms'])} | {_ms(point['p99_ms'])} | {_ms(point['max_ms'])}"
                f" | {point['lost']:,} | {point['server_cpu']:.1%}"
                f" | {point['generator_cpu']:.1%} | {_busy(point['other_cpu'])} |"
            )
    mine = {p["rate"]: p for p in tails_rates(results, "parley")}
    theirs = {p["rate"]: p for p in tails_rates(results, WS)}

    def ratio(rate: int, key: str) -> str:
        a, b = mine[rate].get(key), theirs[rate].get(key)
        return "-" if a is None or not b else f"{a / b:.2f}x"

    for rate in (r for r in mine if r in theirs):
        rows.append(
            f"| Parley / Node ws | {rate} | | | {ratio(rate, 'p50_ms')} | {ratio(rate, 'p99_ms')}"
            f" | {ratio(rate, 'max_ms')} | | {ratio(rate, 'server_cpu')} | | |"
        )
    return "\n".join(rows)


def tails_intro(results: Results) -> list[str]:
    sizes = results.get("sizes", {}).get("tails")
    if not sizes:
        return []
    rates = ", ".join(str(rate) for rate in sizes["rates"])
    return [
        f"One room of {sizes['receivers']:,} sockets, one of them sending at {rates}"
        f" messages/s, {sizes['stepSeconds']:g} s at each rate, open loop; the latency of"
        " every delivery (the sender's own copy included). Parley's target: p99 ≤ 15 ms and"
        " max ≤ 50 ms at every rate.",
        "",
    ]


def low_rate_table(results: Results) -> str:
    """Every server's first reported fan-out step (at the search's start rate)."""
    start = (results.get("sizes", {}).get("fanout") or {}).get("startRate", 10_000)
    rows = [
        "| server | offered deliveries/s | delivered/s | p50 ms | p99 ms | max ms | server CPU"
        " | others' CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in results["labels"].items():
        steps = _get(results, name, "fanout", "steps") or []
        # a step taken again on a busy machine is reported twice: the last one counts
        at = [s for s in steps if s["offered"] is not None and round(s["offered"]) == start]
        if not at:
            rows.append(f"| {label} | {_num(start)} | not measured | | | | | |")
            continue
        step = at[-1]
        rows.append(
            f"| {label} | {_num(step['offered'])} | {_num(step['achieved'])}"
            f" | {_ms(step['p50_ms'])} | {_ms(step['p99_ms'])} | {_ms(step.get('max_ms'))}"
            f" | {step['server_cpu']:.0%} | {_busy(step.get('other_cpu'))} |"
        )
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
        "### Steady tails",
        "",
        *tails_intro(results),
        tails_table(results) if _tails_run(results) else "_Not run in this run._",
        "",
        "### Latency at low rates",
        "",
        "Each server's first reported fan-out step (the search's start rate, after a"
        " warm-up step at half of it that is not reported).",
        "",
        low_rate_table(results),
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
