"""``fleetctl eval`` of 50 replayed cases against the 10 s target.

    .venv/bin/python bench/evals.py [--cases 50] [--jobs N] [--candidate]

Copies examples/northwind to a temporary directory, writes N cases for
bug-report-triage there (copies of its three recorded cases under new names),
and runs the eval as ``fleetctl eval`` does: every case through the real
harness, the embedded gateway, the replay provider and the replay MCP server
(replayed: no model is called). ``--candidate`` runs the staging twin's pins
and the production pins beside them (2 x N runs). Prints wall time, the CPU
time of this process and of its children (the harness runs), and the load
average before and after, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 10.0
# The anchor for the comparison: 50 cases, --jobs 4, before a worker served its replay provider
# and replay MCP servers from one loopback server (one server each, 4 per worker), measured
# back to back with the change at a load of 2.5-3.2: CPU per run of all processes, ms.
BEFORE_CPU_PER_RUN_MS = (233.4, 243.7)
CASES = "evals/bug-report-triage"


def _fleet(dest: Path, n: int) -> Path:
    root = dest / "northwind"
    shutil.copytree(
        ROOT / "examples/northwind", root, ignore=shutil.ignore_patterns("demo", ".fleet")
    )
    shipped = {p.stem: p.read_text() for p in sorted((root / CASES).glob("*.yaml"))}
    for stem in shipped:
        (root / CASES / f"{stem}.yaml").unlink()
    names = sorted(shipped)
    for i in range(n):
        stem = names[i % len(names)]
        (root / CASES / f"{stem}-{i:03d}.yaml").write_text(shipped[stem])
    return root


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--candidate", action="store_true", help="also run the baseline pins")
    ap.add_argument(
        "--exec", action="store_true", help="exec fleet-harness per run (no warm parent to fork)"
    )
    args = ap.parse_args()

    from fleetctl.evals.runner import EvalRequest, default_jobs, evaluate

    jobs = args.jobs or default_jobs()
    pins = "candidate" if args.candidate else "current"
    with tempfile.TemporaryDirectory(prefix="bench-evals-") as tmp:
        root = _fleet(Path(tmp), args.cases)
        load_before = os.getloadavg()
        wall0, cpu0, child0 = time.perf_counter(), time.process_time(), _cpu_children()
        report = evaluate(
            EvalRequest(root, "bug-report-triage", pins, jobs=jobs, fork=not args.exec)
        )
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        child = _cpu_children() - child0
        load_after = os.getloadavg()
    t = report["totals"]
    runs = t["cases"] * (2 if args.candidate else 1)
    print(f"fleetctl eval, replayed ({report['replay']})")
    print(
        f"cases {t['cases']} · runs {runs} · jobs {jobs} · cpus {os.cpu_count()} · "
        f"passed {t['passed']} failed {t['failed']} errors {t['errors']} · "
        f"harness runs {'exec fleet-harness' if args.exec else 'forked from a warm parent'}"
    )
    print(f"{'figure':<34}{'value':>10}")
    print(f"{'wall, whole eval (s)':<34}{wall:>10.2f}")
    print(f"{'CPU, fleetctl process (s)':<34}{cpu:>10.2f}")
    print(f"{'CPU, harness processes (s)':<34}{child:>10.2f}")
    print(f"{'CPU per run, all processes (ms)':<34}{(cpu + child) / runs * 1000:>10.1f}")
    print(f"{'wall per run (ms)':<34}{wall / runs * 1000:>10.1f}")
    print(
        f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} "
        f"(1 min; {os.cpu_count()} cpus)"
    )
    per_run = (cpu + child) / runs * 1000
    lo, hi = BEFORE_CPU_PER_RUN_MS
    print(
        f"CPU per run against before (one server per replay MCP server): {per_run:.1f} ms vs "
        f"{lo:.1f}-{hi:.1f} ms ({per_run / ((lo + hi) / 2) - 1:+.1%})"
    )
    verdict = "meets" if wall <= TARGET_S else "misses"
    print(
        f"target: {t['cases']} cases in <= {TARGET_S:.0f} s wall -> {wall:.2f} s, {verdict} it"
        + ("" if args.cases == 50 else " (the target is for 50 cases)")
    )


if __name__ == "__main__":
    main()
