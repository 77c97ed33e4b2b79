"""Benchmark: what counting start minutes (FL173) costs ``fleetctl validate``.

Two figures. The rule alone, in-process, on 1,000 and 10,000 loops of several schedule shapes
(genfleet's spread morning, everything at 06:00, ``H H(5-8)``, ``H/15`` every hour, a dated
monthly ``H H 1``). And ``fleetctl validate`` of genfleet's 1,000-loop fleet as a cold process,
interleaved with the same run of an earlier checkout (``--before DIR``, e.g. ``git archive
<commit> | tar -x -C DIR``) so that a busy machine slows both alike: the rule must not slow
validate noticeably. Run: ``.venv/bin/python bench/schedules.py [--before DIR] [--runs 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from genfleet import generate

from fleet import cron
from fleet.starts import Scheduled, crowds

ROOT = Path(__file__).resolve().parent.parent

SHAPES = {
    "spread (genfleet)": None,
    "all at 0 6 * * 1-5": "0 6 * * 1-5",
    "H H(5-8) * * 1-5": "H H(5-8) * * 1-5",
    "H/15 * * * *": "H/15 * * * *",
    "H H 1 * * (monthly)": "H H 1 * *",
}


def _loops(n: int, shape: str | None) -> list[Scheduled]:
    out = []
    for i in range(n):
        text = shape or f"{i % 60} {5 + i % 6} * * 1-5"
        name = f"loop-{i:05d}"
        out.append(Scheduled(name, cron.resolve(text, cron.seed("bench", name)), "Europe/Berlin"))
    return out


def rule_alone(runs: int) -> None:
    print(f"{'FL173 alone (in-process)':<32} {'loops':>6} {'crowds':>7} {'median ms':>10}")
    for label, shape in SHAPES.items():
        for n in (1000, 10000):
            loops = _loops(n, shape)
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                found = crowds(loops, 20)
                samples.append(time.perf_counter() - start)
            print(f"{label:<32} {n:>6} {len(found):>7} {statistics.median(samples) * 1000:>10.1f}")


def _validate(tree: Path, fleet: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one cold ``fleetctl validate`` from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys; from fleetctl.cli import main; sys.argv[0] = 'fleetctl'; sys.exit(main())"
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, "validate", str(fleet)],
        env=env,
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr.decode()[-500:])
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def validate_before_after(before: Path | None, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fleet = generate(Path(tmp) / "fleet-1000", 1000)
        trees = [("after", ROOT)] + ([("before", before)] if before else [])
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in trees}
        for _, tree in trees:
            _validate(tree, fleet)  # warm the page cache
        for _ in range(runs):
            for name, tree in trees:
                samples[name].append(_validate(tree, fleet))
    print(
        f"\n{'fleetctl validate, 1,000 loops':<32} {'wall min':>9} {'median':>7} {'cpu median':>11}"
    )
    for name, values in samples.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        print(
            f"{name:<32} {min(walls):>9.3f} {statistics.median(walls):>7.3f} "
            f"{statistics.median(cpus):>11.3f}"
        )
    print(
        "target: validate 1,000 loops <= 1.5 s (bench/validate.py); the rule adds no visible cost"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="an earlier checkout to compare with")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rule_alone(max(3, args.runs // 2))
    validate_before_after(args.before, args.runs)


if __name__ == "__main__":
    main()
