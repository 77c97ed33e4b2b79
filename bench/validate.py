"""Benchmark: ``fleetctl validate`` on generated fleets of 1,000 and 10,000 loops, and ``fleetctl --help``.

Targets: validate 1,000 loops ≤ 1.5 s and 10,000 ≤ 10 s as a cold process; --help ≤ 250 ms.
Run: ``.venv/bin/python bench/validate.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genfleet import generate
from timing import table, time_command

FLEETCTL = str(Path(sys.executable).parent / "fleetctl")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [("fleetctl --help", time_command([FLEETCTL, "--help"], args.runs), 0.25)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, target in ((1000, 1.5), (10000, 10.0)):
            fleet = generate(Path(tmp) / f"fleet-{n}", n)
            runs = args.runs if n <= 1000 else max(3, args.runs // 2)
            rows.append(
                (
                    f"fleetctl validate ({n:,} loops)",
                    time_command([FLEETCTL, "validate", str(fleet)], runs),
                    target,
                )
            )
    print(table(rows))


if __name__ == "__main__":
    main()
