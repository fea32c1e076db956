"""PNG plots of latency against offered rate (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _fanout_plot(series: dict[str, list[dict[str, Any]]], title: str, path: Path) -> None:
    fig, (ax_lat, ax_cpu) = plt.subplots(1, 2, figsize=(13, 5))
    for label, steps in series.items():
        kept = [s for s in steps if s["p99_ms"] is not None and not s.get("retried")]
        points = sorted(kept, key=lambda s: s["offered"])
        if not points:
            continue
        offered = [s["offered"] / 1000 for s in points]
        (line,) = ax_lat.plot(
            offered, [s["p99_ms"] for s in points], marker="o", label=f"{label} p99"
        )
        ax_lat.plot(
            offered, [s["p50_ms"] for s in points], linestyle="--", color=line.get_color(),
            alpha=0.6, label=f"{label} p50",
        )  # fmt: skip
        ax_cpu.plot(offered, [s["server_cpu"] * 100 for s in points], marker="o", label=label)
    ax_lat.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax_lat.set_yscale("log")
    ax_lat.set_xlabel("offered deliveries/s (thousands)")
    ax_lat.set_ylabel("send-to-receipt latency, ms (log)")
    ax_lat.set_title(f"{title}: latency")
    ax_lat.legend(fontsize=7, ncol=2)
    ax_cpu.set_xlabel("offered deliveries/s (thousands)")
    ax_cpu.set_ylabel("server CPU, % of its core")
    ax_cpu.set_title(f"{title}: server CPU")
    ax_cpu.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    """Writes the plots into `out_dir`; returns their file names."""
    names = []
    series = {}
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("fanout")
        if isinstance(entry, dict) and "steps" in entry:
            series[label] = entry["steps"]
    if series:
        _fanout_plot(series, "Fan-out, one room", out_dir / "fanout_latency.png")
        names.append("fanout_latency.png")
    rooms = {}
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("rooms")
        if isinstance(entry, dict) and entry.get("steps"):
            rooms[label] = entry["steps"]
    if rooms:
        _fanout_plot(rooms, "Many rooms of 10", out_dir / "rooms_latency.png")
        names.append("rooms_latency.png")
    calibration = {
        f"reference x{c['repeat']}": c["steps"]
        for c in results.get("calibration", [])
        if "steps" in c
    }
    if calibration:
        _fanout_plot(calibration, "Generator alone", out_dir / "generator_ceiling.png")
        names.append("generator_ceiling.png")
    return names
