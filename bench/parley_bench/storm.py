"""The reconnect storm (Parley alone): a room of 5,000 sockets drops at once.

One sender writes 20 messages/s into a room of ``members`` sockets; every member's
socket drops at once (TCP destroyed, no close handshake) and comes back within
``spreadSeconds``: token login, then ``choice`` with ``After``. The generator
(bench/generator/storm.mjs) reports the storm's duration, the latency of the
messages sent during it, the server's CPU and peak RSS, the presence frames, the
latency of new logins during the storm, and loss and duplicates per user. Two
variants run on the same registered users: Parley as it is (``--presence-linger``
at its default) and with ``--presence-linger 0`` (a closed socket's user leaves
at once, as before the linger existed). `bash bench/run --workload storm`.

The peers are not run: they keep no history, so ``choice`` with ``After`` (how a
client gets what it missed) has nothing to answer with, and "every message once"
cannot hold for them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from .profiles import PROFILES
from .servers import PARLEY
from .workloads import Bench, log

SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "members": 200, "probeUsers": 50, "rate": 20, "warmSeconds": 3.0,
        "spreadSeconds": 5.0, "tailSeconds": 2.0, "probeMs": 100, "settleMs": 3000,
        "drainMs": 20000, "stormLimitSeconds": 120,
    },
    "full": {
        "members": 5000, "probeUsers": 100, "rate": 20, "warmSeconds": 5.0,
        "spreadSeconds": 5.0, "tailSeconds": 3.0, "probeMs": 100, "settleMs": 8000,
        "drainMs": 60000, "stormLimitSeconds": 240,
        # the setup's token logins, in flight at once (200, the generator's default,
        # had some answered "error": see docs/benchmarks.md)
        "connectConcurrency": 50,
    },
}  # fmt: skip
#: (variant, extra server flags)
VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("linger (default)", ()),
    ("no linger", ("--presence-linger", "0")),
)

ROWS = (
    ("sockets", "connections", "{:,.0f}"),
    ("storm: drop to the last socket back (s)", "duration_s", "{:.2f}"),
    ("storm: drop to every socket caught up (s)", "caught_up_s", "{:.2f}"),
    ("messages sent during the storm", "storm_messages", "{:,.0f}"),
    ("their deliveries", "latency.count", "{:,.0f}"),
    ("sockets not back when the storm was given up", "not_back", "{:,.0f}"),
    ("their latency, every delivery, p50 (ms)", "latency.p50_ms", "{:,.1f}"),
    ("their latency, every delivery, p99 (ms)", "latency.p99_ms", "{:,.1f}"),
    ("their latency, pushed live, p50 (ms)", "live_latency.p50_ms", "{:,.1f}"),
    ("their latency, pushed live, p99 (ms)", "live_latency.p99_ms", "{:,.1f}"),
    ("their latency, pushed live, max (ms)", "live_latency.max_ms", "{:,.1f}"),
    ("reconnect: connect, login, pages p99 (ms)", "resume.p99_ms", "{:,.1f}"),
    ("new logins during the storm", "new_logins.count", "{:,.0f}"),
    ("new login p50 (ms)", "new_logins.p50_ms", "{:,.1f}"),
    ("new login p99 (ms)", "new_logins.p99_ms", "{:,.1f}"),
    ("presence frames from the drop on", "presence_frames", "{:,.0f}"),
    ("presence frames per socket", "presence_per_socket", "{:,.2f}"),
    ("messages lost (all users)", "lost", "{:,.0f}"),
    ("messages received twice (all users)", "duplicates", "{:,.0f}"),
    ("connections failed (handshake), tried again", "connect_errors", "{:,.0f}"),
    ("logins answered error, sent again", "login_errors", "{:,.0f}"),
    ("choices answered error, sent again", "choice_errors", "{:,.0f}"),
    ("server CPU during the storm (cores)", "server_cpu", "{:.2f}"),
    ("server peak RSS (MiB)", "peak_rss_mib", "{:,.0f}"),
    ("others' CPU (cores)", "other_cpu", "{:.2f}"),
)


def _get(result: dict[str, Any], key: str) -> Any:
    value: Any = result
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def markdown(results: dict[str, Any]) -> str:
    runs: list[dict[str, Any]] = results["runs"]
    sizes = results["sizes"]
    m = results["machine"]
    lines = [
        f"`{results['command']}`, {results['started']}; {m['cpu']}, {m['cores']} cores,"
        f" Python {m['python']}, Node {m['node']}, Parley {m['parley_commit']}.",
        "",
        f"{sizes['members']:,} sockets in one room, one sender at {sizes['rate']} messages/s;"
        f" all drop at once after {sizes['warmSeconds']:g} s and come back within"
        f" {sizes['spreadSeconds']:g} s (token login, `choice` with `After`); new logins"
        f" every {sizes['probeMs']} ms during the storm.",
        "",
        "| | " + " | ".join(run["variant"] for run in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for label, key, fmt in ROWS:
        cells = []
        for run in runs:
            value = _get(run, key) if "error" not in run else None
            cells.append(fmt.format(value) if isinstance(value, int | float) else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for run in runs:
        if "error" in run:
            lines.append(f"\n- {run['variant']} failed: {run['error']}")
    return "\n".join(lines) + "\n"


def run(
    quick: bool, out: Path | None, nice: int, command: str, machine: dict[str, Any],
    *, members: int | None = None, variants: str = "both",
) -> tuple[dict[str, Any], Path]:
    """Registers the users once, then runs each variant on a fresh server (``variants``
    "linger": the default linger alone); ``members`` replaces the size's room."""
    mode = "quick" if quick else "full"
    sizes = dict(SIZES[mode])
    if members is not None:
        # (the setup's token logins 50 at a time, as at the full size)
        sizes.update(members=members, connectConcurrency=50)
    users = sizes["members"] + 1 + sizes["probeUsers"]
    profile = dataclasses.replace(PROFILES[mode], users=users)
    out_dir = out or Path(__file__).resolve().parent.parent / "results" / (
        time.strftime("%Y%m%d-%H%M%S") + f"-storm-{mode}"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": command, "workload": "storm", "profile": mode,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine, "sizes": sizes, "runs": [],
    }  # fmt: skip
    bench = Bench(profile, out_dir, nice=nice, fast_hashing=True)
    bench.register(PARLEY)  # the storm logs in by token alone
    for variant, flags in VARIANTS if variants == "both" else VARIANTS[:1]:
        log(f"storm, {variant}")
        spec = dataclasses.replace(PARLEY, extra=flags)
        config = {**sizes, "mode": "storm", "hardLimitSeconds": 900}
        try:
            result = bench.run(spec, "storm", config)
            results["runs"].append({"variant": variant, "flags": list(flags), **result})
        except (RuntimeError, OSError, KeyError) as exc:
            log(f"storm {variant} failed: {exc}")
            results["runs"].append({"variant": variant, "error": str(exc)})
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    (out_dir / "results.md").write_text(markdown(results))
    return results, out_dir
