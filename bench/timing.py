"""Whole-process timing for CLI benchmarks: N cold runs, min / median / max wall seconds."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Sequence


def time_command(cmd: Sequence[str], runs: int = 5, warmup: int = 1) -> tuple[float, float, float]:
    samples = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise SystemExit(
                f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}"
            )
        if i >= warmup:
            samples.append(elapsed)
    return min(samples), statistics.median(samples), max(samples)


def table(rows: list[tuple[str, tuple[float, float, float], float]]) -> str:
    """Rows of (what, (min, median, max), target seconds) → a text table with a verdict column."""
    out = [f"{'measure':<44} {'min':>7} {'median':>7} {'max':>7} {'target':>7}  verdict"]
    for name, (lo, med, hi), target in rows:
        verdict = "ok" if med <= target else "MISSED"
        out.append(f"{name:<44} {lo:7.3f} {med:7.3f} {hi:7.3f} {target:7.2f}  {verdict}")
    return "\n".join(out)
