"""Running the Node.js load generator, pinned to the generator core."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .servers import BENCH, pinned

GENERATOR = BENCH / "generator" / "gen.mjs"


class GeneratorError(RuntimeError):
    pass


def run_generator(
    config: dict[str, Any], core: int, work_dir: Path, name: str, nice: int = 0
) -> dict[str, Any]:
    """Runs one workload; returns the generator's result (raises on failure)."""
    config_path = work_dir / f"{name}.config.json"
    config_path.write_text(json.dumps(config))
    limit = float(config.get("hardLimitSeconds", 600)) + 30
    with (work_dir / f"{name}.generator.log").open("wb") as log:
        try:
            done = subprocess.run(
                [*pinned(core, nice), "node", str(GENERATOR), str(config_path)],
                stdout=subprocess.PIPE,
                stderr=log,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GeneratorError(f"{name}: generator did not finish in {limit:.0f} s") from exc
    lines = done.stdout.decode().strip().splitlines()
    if not lines:
        raise GeneratorError(f"{name}: generator printed nothing (exit {done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        raise GeneratorError(f"{name}: {result['error']}")
    (work_dir / f"{name}.result.json").write_text(json.dumps(result, indent=1))
    return result
