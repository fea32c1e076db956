"""Steady tails on their own: `bash bench/run --workload tails`.

The comparison's steady-tails workload (``workloads.tails``: one room of 500
sockets, one sender at 20, then 50, then 100 messages/s, 60 s at each rate, open
loop) against the servers of the profile's ``tails_servers`` (Parley, with
persistence on as in the comparison, and Node ws) or those of ``--servers``. The
results have the comparison's shape, so that its tables and plots render them.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from . import report, workloads
from .plots import write_tails_plots
from .profiles import Profile
from .servers import BENCH, ServerSpec
from .workloads import Bench, log


def markdown(results: dict[str, Any], plots: list[str]) -> str:
    m = results["machine"]
    parts = [
        f"`{results['command']}`, {results['started']}, {results['duration_s'] / 60:.1f}"
        f" minutes; {m['cpu']}, {m['cores']} cores, Python {m['python']}, Node {m['node']},"
        f" Parley {m['parley_commit']}. Servers on core 0 and the generator on core 1,"
        f" `nice {results.get('nice', 0)}`.",
        "",
        *report.tails_intro(results),
        report.tails_table(results),
        "",
        report.LEGEND,
        "",
    ]
    for plot in plots:
        parts += [f"![{plot}]({plot})", ""]
    return "\n".join(parts)


def run(
    profile: Profile,
    specs: list[ServerSpec],
    out: Path | None,
    nice: int,
    command: str,
    machine: dict[str, Any],
) -> tuple[dict[str, Any], Path]:
    """Runs the workload against each of `specs`, each on a fresh server; writes
    results.json, results.md and the plots into the run's folder."""
    started = time.monotonic()
    out_dir = out or BENCH / "results" / (time.strftime("%Y%m%d-%H%M%S") + f"-tails-{profile.name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": command, "workload": "tails", "profile": profile.name,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine,
        "sizes": {"tails": {**profile.tails, "servers": [spec.name for spec in specs]}},
        "labels": {spec.name: spec.label for spec in specs}, "nice": nice,
        "servers": {}, "duration_s": 0.0,
    }  # fmt: skip
    # The workload logs in by token alone: cheap password hashing registers the users.
    bench = Bench(profile, out_dir, nice=nice, fast_hashing=True)

    def save() -> None:
        results["duration_s"] = time.monotonic() - started
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))

    for spec in specs:
        entry: dict[str, Any] = {}
        results["servers"][spec.name] = entry
        if spec.stores and not bench.users:
            try:
                bench.register(spec)
            except (RuntimeError, OSError, KeyError) as exc:
                log(f"{spec.label}: registration failed: {exc}")
                entry["tails"] = {"error": f"registration failed: {exc}"}
                save()
                continue
        entry["tails"] = workloads.tails(bench, spec)
        save()
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    plots = write_tails_plots(results, out_dir, "tails-")
    results["plots"] = plots
    save()
    (out_dir / "results.md").write_text(markdown(results, plots))
    return results, out_dir
