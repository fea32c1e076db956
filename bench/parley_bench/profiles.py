"""Workload sizes for the quick and the full run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    users: int  # registered Parley users: one per socket of the largest workload
    fanout: dict[str, Any]
    rooms: dict[str, Any]
    idle: dict[str, Any]
    store: dict[str, Any]
    images: dict[str, Any]
    changes: dict[str, Any]  # edits in one room (Parley only: the peers have none)
    tails: dict[str, Any]  # one sender at a few low fixed rates: every delivery's latency
    tails_servers: tuple[str, ...]  # the servers the tails workload runs against
    calibrate_repeats: tuple[int, ...]
    quiet_wait_s: float  # longest wait for a quiet machine before a workload
    quiet_budget_s: float  # longest time spent waiting for quiet in the whole run


COMMON: dict[str, Any] = {
    "textBytes": 64,
    "generatorCpuLimit": 0.9,
    "p99LimitMs": 100,
    "maxMessages": 4_000_000,
}

QUICK = Profile(
    name="quick",
    users=500,
    fanout={
        "receivers": 200, "senders": 10, "stepSeconds": 1.0, "warmupSeconds": 0.5,
        "startRate": 10_000, "factor": 2.0, "refine": 1, "maxSteps": 8, "maxSeconds": 8,
        "drainMs": 800, "pauseMs": 100, "busyRetries": 1,
    },
    rooms={
        "rooms": 50, "roomSize": 10, "searchStepSeconds": 1.0, "warmupSeconds": 0.5,
        "startRate": 5_000, "factor": 2.0, "refine": 0, "maxSteps": 6, "maxSeconds": 6,
        "stepSeconds": 1.0, "drainMs": 800, "pauseMs": 100, "busyRetries": 0,
    },
    idle={"connections": 500, "roomSize": 100, "settleMs": 500},
    store={"senders": 20, "window": 8, "stepSeconds": 1.5, "drainMs": 1000},
    images={
        "receivers": 20, "senders": 2, "window": 2, "stepSeconds": 1.5, "drainMs": 2000,
        "imageBytes": 100_000,
    },
    changes={"receivers": 200, "senders": 10, "window": 4, "stepSeconds": 1.5, "drainMs": 1000},
    tails={
        "receivers": 100, "rates": [20, 50, 100], "stepSeconds": 3.0, "drainMs": 1000,
        "pauseMs": 200, "settleMs": 500,
    },
    tails_servers=("parley", "node-ws"),
    calibrate_repeats=(20,),
    quiet_wait_s=10.0,
    quiet_budget_s=20.0,
)  # fmt: skip

FULL = Profile(
    name="full",
    users=10_000,
    fanout={
        "receivers": 1000, "senders": 20, "stepSeconds": 3.0, "warmupSeconds": 2.0,
        "startRate": 10_000,
        "factor": 1.25, "refine": 2, "maxSteps": 30, "maxSeconds": 150, "drainMs": 3000,
        "pauseMs": 500,
    },
    rooms={
        "rooms": 500, "roomSize": 10, "searchStepSeconds": 3.0, "warmupSeconds": 2.0,
        "startRate": 5_000, "factor": 1.5, "refine": 1, "maxSteps": 15, "maxSeconds": 90,
        "stepSeconds": 10.0, "drainMs": 3000, "pauseMs": 500, "busyRetries": 2,
    },
    idle={"connections": 10_000, "roomSize": 100, "settleMs": 3000},
    store={"senders": 50, "window": 8, "stepSeconds": 10.0, "drainMs": 3000},
    images={
        "receivers": 100, "senders": 4, "window": 2, "stepSeconds": 10.0, "drainMs": 5000,
        "imageBytes": 100_000,
    },
    changes={"receivers": 1000, "senders": 20, "window": 4, "stepSeconds": 10.0,
             "drainMs": 3000},
    tails={
        "receivers": 500, "rates": [20, 50, 100], "stepSeconds": 60.0, "drainMs": 3000,
        "pauseMs": 1000, "settleMs": 2000,
    },
    tails_servers=("parley", "node-ws"),
    calibrate_repeats=(1, 20),
    quiet_wait_s=20.0,
    quiet_budget_s=240.0,
)  # fmt: skip

PROFILES = {"quick": QUICK, "full": FULL}
