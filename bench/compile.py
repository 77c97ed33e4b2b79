"""Benchmark: ``fleetctl compile`` of generated fleets of 1,000 and 10,000 loops to a directory.

Targets: 1,000 loops ≤ 2 s and 10,000 ≤ 15 s as a cold process.
Run: ``.venv/bin/python bench/compile.py [--runs 5]``.
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
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, target in ((1000, 2.0), (10000, 15.0)):
            fleet = generate(Path(tmp) / f"fleet-{n}", n)
            out = Path(tmp) / f"out-{n}"
            runs = args.runs if n <= 1000 else max(3, args.runs // 2)
            # --git-commit fixed and output removed each run: every run writes every file.
            cmd = [
                "sh",
                "-c",
                f'rm -rf "{out}" && exec "{FLEETCTL}" compile "{fleet}" -o "{out}" --git-commit bench',
            ]
            rows.append(
                (f"fleetctl compile ({n:,} loops, to a dir)", time_command(cmd, runs), target)
            )
    print(table(rows))


if __name__ == "__main__":
    main()
