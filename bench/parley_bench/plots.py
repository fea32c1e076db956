"""PNG plots of latency against offered rate, and over time (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker


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
    names += write_tails_plots(results, out_dir, "tails_")
    return names


def _tails_series(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each server's steady-tails rates, by label (servers without them left out)."""
    out = {}
    for name, label in results["labels"].items():
        entry = results["servers"].get(name, {}).get("tails")
        if isinstance(entry, dict) and entry.get("rates"):
            out[label] = entry["rates"]
    return out


def _targets(ax: Any) -> None:
    """Parley's targets as grey lines, on a log scale with plain numbers."""
    ax.axhline(15, color="grey", linewidth=0.8, linestyle=":", label="target p99 15 ms")
    ax.axhline(50, color="grey", linewidth=0.8, linestyle="-.", label="target max 50 ms")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _tails_windows_plot(series: dict[str, list[dict[str, Any]]], path: Path) -> None:
    rates = sorted({point["rate"] for points in series.values() for point in points})
    fig, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 4.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, rate in zip(axes[0], rates, strict=True):
        for i, (label, points) in enumerate(series.items()):
            for point in (p for p in points if p["rate"] == rate):
                windows = [w for w in point["windows"] if w["count"]]
                t = [w["t"] for w in windows]
                color = colors[i % len(colors)]
                ax.plot(t, [w["p99_ms"] for w in windows], color=color, label=f"{label} p99")
                ax.plot(
                    t, [w["max_ms"] for w in windows], color=color, linestyle="--", alpha=0.7,
                    label=f"{label} max",
                )  # fmt: skip
        _targets(ax)
        ax.set_xlabel("second of the step (messages due in it)")
        ax.set_ylabel("latency per 1-s window, ms (log)")
        ax.set_title(f"Steady tails, {rate} messages/s")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _tails_rates_plot(series: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = (("p50_ms", ":", "p50"), ("p99_ms", "-", "p99"), ("max_ms", "--", "max"))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, points) in enumerate(series.items()):
        points = sorted(points, key=lambda p: p["rate"])
        for key, style, name in styles:
            kept = [p for p in points if p[key] is not None]
            ax.plot(
                [p["rate"] for p in kept], [p[key] for p in kept], marker="o", linestyle=style,
                color=colors[i % len(colors)], label=f"{label} {name}",
            )  # fmt: skip
    _targets(ax)
    ax.set_xlabel("offered messages/s (one sender)")
    ax.set_ylabel("send-to-receipt latency, ms (log)")
    ax.set_title("Steady tails: every delivery, per rate")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_tails_plots(results: dict[str, Any], out_dir: Path, prefix: str) -> list[str]:
    """The steady-tails plots, named `prefix` + windows/rates.png; their names."""
    series = _tails_series(results)
    if not series:
        return []
    names = [f"{prefix}windows.png", f"{prefix}rates.png"]
    _tails_windows_plot(series, out_dir / names[0])
    _tails_rates_plot(series, out_dir / names[1])
    return names
