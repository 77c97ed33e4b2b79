"""Benchmark: ``fleetctl diff`` between two git revisions of a 1,000-loop fleet (5% of loops changed).

Target: ≤ 3 s as a cold process. Run: ``.venv/bin/python bench/diff.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genfleet import generate
from timing import table, time_command

FLEETCTL = str(Path(sys.executable).parent / "fleetctl")


def git(repo: Path, *args: str) -> None:
    env = ["-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run(["git", *env, *args], cwd=repo, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loops", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        generate(repo / "fleet", args.loops)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        git(repo, "tag", "base")
        generate(repo / "fleet", args.loops, variant=1)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "head")
        cmd = [FLEETCTL, "diff", str(repo / "fleet"), "--base", "base", "--head", "HEAD"]
        rows = [
            (
                f"fleetctl diff ({args.loops:,} loops, 2 revisions)",
                time_command(cmd, args.runs),
                3.0,
            )
        ]
    print(table(rows))


if __name__ == "__main__":
    main()
