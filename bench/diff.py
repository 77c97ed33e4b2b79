"""Benchmark: ``fleetctl diff`` between two git revisions of a 1,000-loop fleet (5% of loops changed).

Target: ≤ 3 s as a cold process. Run: ``.venv/bin/python bench/diff.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genfleet import generate
from timing import table, time_command

from fleet.compile import compile_fleet
from fleet.diff import diff_fleets
from fleet.gitsource import GitSource

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
                # The target is set at 1,000 loops; other sizes get it scaled linearly.
                3.0 * args.loops / 1000,
            )
        ]
        out = subprocess.run([*cmd, "-o", "json"], capture_output=True, text=True, check=False)
        changed = len([lp for lp in json.loads(out.stdout)["loops"] if lp["name"] != "(fleet)"])
        # Where the time goes: compiling the two sides vs the semantic diff itself.
        start = time.perf_counter()
        docs = [
            compile_fleet(GitSource(repo, rev, "fleet"), lock=False).documents()
            for rev in ("base", "HEAD")
        ]
        compiled = time.perf_counter() - start
        start = time.perf_counter()
        diff_fleets(*docs)
        diffed = time.perf_counter() - start
    print(table(rows))
    print(f"loops reported changed: {changed} of {args.loops:,}")
    print(f"in process: compile both revisions {compiled:.3f} s, semantic diff {diffed:.3f} s")


if __name__ == "__main__":
    main()
