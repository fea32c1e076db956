"""`python -m parley_bench [--quick]`: the whole comparison, one server at a time.

Usually started by `bash bench/run`, which installs what it needs, raises the
file-descriptor limit and pins this process to the generator core.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import activity, report, storm, tails, workloads
from .machine import describe
from .plots import write_plots
from .profiles import PROFILES, Profile
from .servers import BENCH, SERVERS, ServerSpec, firehose
from .workloads import Bench, log

REPORT_DIR = BENCH / "report"
DOCS = BENCH.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- results:begin (written by bench/run) -->"
END = "<!-- results:end -->"


def _yes_no(text: str) -> bool:
    if text.lower() in ("true", "yes", "on", "1"):
        return True
    if text.lower() in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"true or false, not {text!r}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, short steps (< 3 min)")
    parser.add_argument(
        "--workload",
        choices=("comparison", "activity", "storm", "tails"),
        default="comparison",
        help="comparison: every server, every workload (default); activity: Parley alone,"
        " what the activity pushes cost (1,000 members, 900 in another chat); storm: Parley"
        " alone, a room of 5,000 sockets dropping at once and reconnecting; tails: the"
        " comparison's steady-tails workload alone (one sender at 20, 50 and 100"
        " messages/s into a room of 500), for Parley and Node ws unless --servers says",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each variant of --workload activity"
    )
    parser.add_argument(
        "--servers",
        help="comma-separated servers to run (default: all; --workload tails: those of its"
        " profile): " + ", ".join(s.name for s in SERVERS),
    )
    parser.add_argument(
        "--members",
        type=int,
        help="storm: sockets in the room (default 200 with --quick, else 5,000)",
    )
    parser.add_argument(
        "--variants",
        choices=("both", "linger"),
        default="both",
        help="storm: both variants (default), or the default linger alone",
    )
    parser.add_argument("--no-calibration", action="store_true", help="skip the generator ceiling")
    parser.add_argument(
        "--publish",
        nargs="?",
        const=True,
        default=None,
        type=_yes_no,
        metavar="true|false",
        help="write bench/report/ and docs/benchmarks.md (default: on in full mode)",
    )
    parser.add_argument(
        "--no-publish", dest="publish", action="store_false", help="the same as --publish false"
    )
    parser.add_argument("--out", type=Path, help="result folder (default bench/results/<time>)")
    parser.add_argument(
        "--report-from",
        type=Path,
        metavar="DIR",
        help="measure nothing: rewrite the tables and plots from DIR/results.json",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="longest wait, seconds, for a quiet machine before each workload"
        " (default 10 quick, 20 full)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="scheduling priority of the servers and the generator, so that other programs"
        " disturb the measurement less (default: -10 as root, else 0)",
    )
    return parser.parse_args(argv)


def chosen(servers: str) -> list[ServerSpec]:
    """The servers named in the comma-separated `servers`, in the comparison's order."""
    wanted = [name.strip() for name in servers.split(",") if name.strip()]
    specs = [spec for spec in SERVERS if spec.name in wanted]
    unknown = set(wanted) - {spec.name for spec in specs}
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    return specs


def profile_of(args: argparse.Namespace) -> Profile:
    profile = PROFILES["quick" if args.quick else "full"]
    if args.quiet_wait is not None:
        profile = dataclasses.replace(profile, quiet_wait_s=args.quiet_wait)
    return profile


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    profile = profile_of(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir: Path = args.out or BENCH / "results" / f"{stamp}-{profile.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = chosen(args.servers or ",".join(spec.name for spec in SERVERS))
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": command,
        "profile": profile.name,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": describe(),
        "sizes": {
            "users": profile.users,
            "fanout": profile.fanout,
            "rooms": profile.rooms,
            "idle": profile.idle,
            "store": profile.store,
            "images": profile.images,
            "changes": profile.changes,
            "tails": {**profile.tails, "servers": list(profile.tails_servers)},
        },
        "labels": {spec.name: spec.label for spec in specs},
        "nice": args.nice,
        "servers": {},
        "calibration": [],
        "duration_s": 0.0,
    }
    bench = Bench(profile, out_dir, nice=args.nice)

    def save() -> None:
        results["duration_s"] = time.monotonic() - started
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))

    if not args.no_calibration:
        for repeat in profile.calibrate_repeats:
            results["calibration"].append(workloads.calibrate(bench, firehose(repeat)))
            save()
    for spec in specs:
        entry: dict[str, Any] = {}
        results["servers"][spec.name] = entry
        if spec.stores:
            try:
                # no workload logs in by password: cheap hashing registers 10,000 users
                # in seconds; the measured servers hash for real
                bench.fast_hashing = True
                bench.register(spec)
                bench.fast_hashing = False
            except (RuntimeError, OSError, KeyError) as exc:
                log(f"{spec.label}: registration failed: {exc}")
                entry["fanout"] = {"error": f"registration failed: {exc}"}
                save()
                continue
        entry["fanout"] = workloads.fanout(bench, spec)
        save()
        entry["rooms"] = workloads.rooms(bench, spec)
        save()
        entry["idle"] = workloads.idle(bench, spec)
        save()
        if spec.stores:
            entry["store"] = workloads.store(bench, spec)
            save()
            entry["images"] = workloads.images(bench, spec)
            save()
            entry["changes"] = workloads.changes(bench, spec)
            save()
        if spec.name in profile.tails_servers:
            entry["tails"] = workloads.tails(bench, spec)
            save()
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    save()
    return results


def publish(results: dict[str, Any], out_dir: Path, to_docs: bool) -> None:
    plots = write_plots(results, out_dir)
    (out_dir / "results.md").write_text(report.markdown(results, plots))
    results["ratios"] = report.ratios(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    if not to_docs:
        return
    REPORT_DIR.mkdir(exist_ok=True)
    for name in [*plots, "results.json", "results.md"]:
        shutil.copy(out_dir / name, REPORT_DIR / name)
    generated = report.markdown(results, [f"../bench/report/{p}" for p in plots])
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = f"{text.rstrip()}\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOCS.write_text(f"{head}{BEGIN}\n\n{generated}\n{END}{tail}")
    log(f"wrote {REPORT_DIR} and {DOCS}")


def _stop(signum: int, _frame: object) -> None:
    # Unwinds through every `finally`, which stops the server and the generator.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    args = parse_args(argv)
    started = time.monotonic()
    if args.report_from is not None:
        results = json.loads((args.report_from / "results.json").read_text())
        publish(results, args.report_from, bool(args.publish))
        print((args.report_from / "results.md").read_text())
        return 0
    command = shlex.join(["bash", "bench/run", *argv])
    if args.workload == "storm":
        result, where = storm.run(args.quick, args.out, args.nice, command, describe(),
                                  members=args.members, variants=args.variants)
        print((where / "results.md").read_text())
        if args.publish if args.publish is not None else not args.quick:
            REPORT_DIR.mkdir(exist_ok=True)
            for name in ("results.json", "results.md"):
                shutil.copy(where / name, REPORT_DIR / f"storm-{name}")
            log(f"wrote {REPORT_DIR}/storm-results.*")
        log(f"results in {where} after {(time.monotonic() - started) / 60:.1f} min")
        return 0 if all("error" not in one for one in result["runs"]) else 1
    if args.workload == "tails":
        profile = profile_of(args)
        specs = chosen(args.servers or ",".join(profile.tails_servers))
        found, where = tails.run(profile, specs, args.out, args.nice, command, describe())
        if args.publish if args.publish is not None else not args.quick:
            REPORT_DIR.mkdir(exist_ok=True)
            for name in ("results.json", "results.md", *found["plots"]):
                target = name if name in found["plots"] else f"tails-{name}"
                shutil.copy(where / name, REPORT_DIR / target)
            log(f"wrote {REPORT_DIR}/tails-*")
        print((where / "results.md").read_text())
        log(f"results in {where} after {(time.monotonic() - started) / 60:.1f} min")
        entries = [server.get("tails", {}) for server in found["servers"].values()]
        return 0 if all("error" not in entry for entry in entries) else 1
    if args.workload == "activity":
        found, where = activity.run(
            args.quick, args.repeats, args.out, args.nice, command, describe()
        )
        print((where / "results.md").read_text())
        if args.publish if args.publish is not None else not args.quick:
            REPORT_DIR.mkdir(exist_ok=True)
            for name in ("results.json", "results.md"):
                shutil.copy(where / name, REPORT_DIR / f"activity-{name}")
            log(f"wrote {REPORT_DIR}/activity-results.*")
        log(f"results in {where} after {(time.monotonic() - started) / 60:.1f} min")
        return 0 if all("error" not in one for one in found["runs"]) else 1
    results = run(args, command)
    out_dir = Path(args.out) if args.out else None
    if out_dir is None:
        out_dir = sorted((BENCH / "results").glob(f"*-{results['profile']}"))[-1]
    to_docs = args.publish if args.publish is not None else not args.quick
    publish(results, out_dir, to_docs)
    print((out_dir / "results.md").read_text())
    log(f"results in {out_dir} after {results['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
