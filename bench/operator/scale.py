"""Operator at fleet scale on the emulated API: N AgentLoops created at once → all Ready,
then write calls over one idle resync period.

    .venv/bin/python bench/operator/scale.py [--loops 1000] [--resync 20]

Targets: 1,000 loops Ready in ≤ 60 s; zero write calls per resync period when idle.
The API is tests/e2e/emulator.py (kmock plus uid/resourceVersion/generation/GC
bookkeeping) on loopback; the operator runs under kopf's KopfRunner, as in the e2e tests.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--resync", type=float, default=20.0, help="drift/resync period in seconds")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ["FLEET_OPERATOR_DRIFT_SECONDS"] = str(args.resync)
    os.environ["FLEET_OPERATOR_FLEET_SECONDS"] = "1"
    os.environ["FLEET_OPERATOR_WORKERS"] = str(args.workers)

    from fleet_operator.kube import Kube
    from kopf.testing import KopfRunner

    from fleet.compile import compile_fleet
    from fleet.resources import API_VERSION
    from fleet.source import DirSource
    from tests.e2e.emulator import Cluster

    compiled = compile_fleet(
        DirSource(ROOT / "tests" / "fixtures" / "northwind"), git_commit="bench"
    )
    template = next(loop for loop in compiled.loops if loop["metadata"]["name"] == "cost-report")
    ns = "bench"

    def named(doc: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        meta = {**doc["metadata"], "namespace": ns}
        if name:
            meta["name"] = name
        return {**doc, "metadata": meta}

    loops = [named(template, f"loop-{i:04d}") for i in range(args.loops)]
    with Cluster() as cluster:
        os.environ["FLEET_OPERATOR_KUBE_URL"] = cluster.url
        kube = Kube.from_url(cluster.url)
        for doc in [compiled.policy, *compiled.content]:
            kube.create(named(doc))
        with KopfRunner(
            ["run", "-A", "--standalone", "-m", "fleet_operator.handlers"], timeout=600
        ):
            start = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(kube.create, loops))
            created = time.perf_counter() - start
            print(f"  {created:6.1f} s: {args.loops} created", file=sys.stderr, flush=True)

            def ready() -> int:
                return sum(
                    1
                    for loop in kube.list(API_VERSION, "AgentLoop", ns)
                    if any(
                        c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (loop.get("status") or {}).get("conditions", [])
                    )
                )

            count = 0
            timeline = []  # KopfRunner holds stderr while it runs: print afterwards
            while count < args.loops and time.perf_counter() - start < 600:
                time.sleep(1)
                count = ready()
                timeline.append(
                    f"  {time.perf_counter() - start:6.1f} s: {count} Ready, {cluster.writes} writes"
                )
            all_ready = time.perf_counter() - start

            def in_gateway() -> int:
                cm = kube.get("v1", "ConfigMap", ns, "fleet-gateway-config") or {}
                if "binaryData" in cm:
                    raw = gzip.decompress(base64.b64decode(cm["binaryData"]["gateway.json"]))
                else:
                    raw = (cm.get("data") or {}).get("gateway.json", "{}").encode()
                return len(json.loads(raw).get("loops", {}))

            listed = in_gateway()
            while listed < args.loops and time.perf_counter() - start < 600:
                time.sleep(0.5)
                listed = in_gateway()
            all_listed = time.perf_counter() - start
            # Let the gateway config and the first sweep settle, then count one full resync period.
            time.sleep(args.resync + 5)
            before, reads_before = cluster.writes, cluster.reads
            logged = len(cluster.emulator.write_log) if cluster.emulator else 0
            time.sleep(args.resync * 1.5)
            idle_writes = cluster.writes - before
            idle_reads = cluster.reads - reads_before
            if idle_writes and cluster.emulator:
                timeline += ["writes while idle:"] + [
                    "  " + line[:300] for line in cluster.emulator.write_log[logged:][:10]
                ]
    print("\n".join(timeline), file=sys.stderr)
    rows = [
        ("AgentLoops", f"{args.loops}", ""),
        ("created (POSTs done)", f"{created:.1f} s", ""),
        (
            "all Ready",
            f"{all_ready:.1f} s ({count}/{args.loops})",
            "≤ 60 s" + (" ✓" if count == args.loops and all_ready <= 60 else " ✗"),
        ),
        ("all in the gateway config", f"{all_listed:.1f} s ({listed}/{args.loops})", ""),
        (
            f"idle writes over {args.resync * 1.5:.0f} s (1.5 resync periods)",
            str(idle_writes),
            "0" + (" ✓" if idle_writes == 0 else " ✗"),
        ),
        (
            f"idle reads over {args.resync * 1.5:.0f} s (gets and lists)",
            str(idle_reads),
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'measured':<24}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<24}  {target}")


if __name__ == "__main__":
    main()
