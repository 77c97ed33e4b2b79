"""Runs at fleet scale on the emulated API: N webhook loops Ready, then N payloads posted at once
→ N Jobs; paused runs whose approvals are decided → their resume Jobs, in poll periods; then
write calls over one idle resync period of a fleet whose runs all finished.

    .venv/bin/python bench/operator/triggers.py [--loops 1000] [--poll 2] [--resync 20] [--resumes 50]

Targets: 1,000 loops triggered at once → 1,000 Jobs created in ≤ 30 s; a resume Job starts
within 2 poll periods of the approval; an idle fleet of 1,000 loops with finished runs makes 0
writes per resync period. The API is tests/e2e/emulator.py on loopback, the operator runs under
kopf's KopfRunner, the fleet's gateway on loopback is fed the gateway config the operator
writes (as the kubelet syncs the ConfigMap volume), and the "pods" are this script: it opens,
pauses and ends runs through the runs API with each loop's token, as the harness does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

NS = "bench-runs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=2.0, help="operator poll period, seconds")
    parser.add_argument("--resync", type=float, default=20.0, help="drift/resync period, seconds")
    parser.add_argument("--resumes", type=int, default=50, help="paused runs to decide at once")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ["FLEET_OPERATOR_DRIFT_SECONDS"] = str(args.resync)
    os.environ["FLEET_OPERATOR_FLEET_SECONDS"] = "1"
    os.environ["FLEET_OPERATOR_POLL_SECONDS"] = str(args.poll)
    os.environ["FLEET_OPERATOR_WORKERS"] = str(args.workers)
    os.environ["FLEET_OPERATOR_ORPHAN_SECONDS"] = "100000"

    import httpx
    import orjson
    from fleet_operator.kube import Kube
    from kopf.testing import KopfRunner

    from fleet.compile import compile_fleet
    from fleet.resources import API_VERSION
    from fleet.source import DirSource
    from gateway.app import Gateway
    from gateway.config import ConfigHolder
    from gateway.mcp.ledger import Ledger
    from gateway.store import open_store
    from tests.e2e.emulator import Cluster
    from tests.gateway.fakes import ServerThread

    compiled = compile_fleet(
        DirSource(ROOT / "tests" / "fixtures" / "northwind"), git_commit="bench"
    )
    template = next(loop for loop in compiled.loops if loop["metadata"]["name"] == "cost-report")
    spec = {
        **template["spec"],
        "trigger": {
            **template["spec"]["trigger"],
            "webhook": {"maxPayload": 4096, "maxQueue": 10},
            "concurrency": "Forbid",
        },
    }

    def named(doc: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        meta = {**doc["metadata"], "namespace": NS}
        if name:
            meta["name"] = name
        return {**doc, "metadata": meta}

    names = [f"loop-{i:04d}" for i in range(args.loops)]
    loops = [{**named(template, n), "spec": spec} for n in names]
    timeline: list[str] = []  # KopfRunner holds stderr while it runs: print afterwards
    rows: list[tuple[str, str, str]] = []
    with TemporaryDirectory() as tmp, Cluster() as cluster:
        os.environ["FLEET_OPERATOR_KUBE_URL"] = cluster.url
        kube = Kube.from_url(cluster.url)
        config = Path(tmp) / "gateway.json"
        config.write_bytes(orjson.dumps({"fleet": "northwind"}))
        store_url = f"sqlite:{Path(tmp) / 'gateway.sqlite3'}"
        app = Gateway(ConfigHolder.from_file(config), open_store(store_url), watch_interval=0.2)
        stop = threading.Event()

        def follow() -> None:  # the kubelet's sync of the ConfigMap volume
            seen = None
            while not stop.wait(0.5):
                cm = kube.get("v1", "ConfigMap", NS, "fleet-gateway-config") or {}
                if "binaryData" in cm:
                    raw = base64.b64decode(cm["binaryData"]["gateway.json"])
                else:
                    raw = ((cm.get("data") or {}).get("gateway.json") or "").encode()
                if raw and raw != seen:
                    staged = config.with_suffix(".new")
                    staged.write_bytes(raw)
                    staged.replace(config)
                    seen = raw

        syncer = threading.Thread(target=follow, daemon=True)
        with ServerThread(app, loop="uvloop") as gateway:
            os.environ["FLEET_OPERATOR_GATEWAY_URL"] = gateway.url
            syncer.start()
            for doc in [compiled.policy, *compiled.content]:
                kube.create(named(doc))
            with KopfRunner(
                ["run", "-A", "--standalone", "-m", "fleet_operator.handlers"], timeout=900
            ):
                start = time.perf_counter()
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(kube.create, loops))

                def ready() -> int:
                    cfg = orjson.loads(orjson.dumps(app.holder.runtime.config))
                    return (
                        sum(
                            1
                            for n in names
                            if ((cfg["loops"].get(n) or {}).get("trigger") or {}).get(
                                "token_sha256"
                            )
                        )
                        if cfg.get("operator_sha256")
                        else 0
                    )

                def reconciled() -> bool:
                    crons = kube.list("batch/v1", "CronJob", NS)
                    ready_loops = sum(
                        1
                        for loop in kube.list(API_VERSION, "AgentLoop", NS)
                        if any(
                            c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (loop.get("status") or {}).get("conditions", [])
                        )
                    )
                    return len(crons) == ready_loops == args.loops

                while time.perf_counter() - start < 600 and not (
                    reconciled() and ready() == args.loops
                ):
                    time.sleep(1)
                time.sleep(3)  # the fleet's last gateway render settles
                timeline.append(
                    f"  {time.perf_counter() - start:6.1f} s: {args.loops} loops Ready and in the "
                    "gateway config with their trigger tokens"
                )

                def secret(name: str) -> str:
                    s = kube.get("v1", "Secret", NS, name)
                    assert s is not None, name
                    return base64.b64decode(s["data"]["token"]).decode()

                with ThreadPoolExecutor(16) as pool:
                    triggers = list(pool.map(lambda n: secret(f"{n}-trigger-token"), names))
                    tokens = dict(
                        zip(
                            names,
                            pool.map(lambda n: secret(f"{n}-gateway-token"), names),
                            strict=True,
                        )
                    )

                # ------------------------------------------------ 1. N payloads at once
                async def post_all() -> list[int]:
                    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as c:
                        sem = asyncio.Semaphore(64)

                        async def one(n: str, token: str) -> int:
                            async with sem:
                                r = await c.post(
                                    f"/v1/fleet/loops/{n}/trigger",
                                    json={"loop": n, "event": "push"},
                                    headers={"authorization": f"Bearer {token}"},
                                )
                                return r.status_code

                        return await asyncio.gather(
                            *(one(n, t) for n, t in zip(names, triggers, strict=True))
                        )

                writes0 = cluster.writes
                logged0 = len(cluster.emulator.write_log) if cluster.emulator else 0
                t0 = time.perf_counter()
                statuses = asyncio.run(post_all())
                posted = time.perf_counter() - t0
                accepted = statuses.count(202)

                def job_names() -> dict[str, dict[str, Any]]:
                    return {
                        j["metadata"]["name"]: j
                        for j in kube.list("batch/v1", "Job", NS, "fleetctl.dev/trigger=webhook")
                    }

                made: dict[str, dict[str, Any]] = {}
                while len(made) < accepted and time.perf_counter() - t0 < 300:
                    time.sleep(0.5)
                    made = job_names()
                all_jobs = time.perf_counter() - t0
                per_loop = {j["metadata"]["labels"]["fleetctl.dev/loop"] for j in made.values()}
                if cluster.emulator and os.environ.get("BENCH_WRITES"):
                    kinds: dict[str, int] = {}
                    for line in cluster.emulator.write_log[logged0:]:
                        key = " ".join(line.split()[1:3]).rsplit("/", 1)[0]
                        kinds[key] = kinds.get(key, 0) + 1
                    timeline.append(f"  writes by kind: {kinds}")
                timeline.append(
                    f"  payloads: {accepted}/{args.loops} accepted in {posted:.1f} s; {len(made)} "
                    f"Jobs in {all_jobs:.1f} s ({cluster.writes - writes0} writes)"
                )
                time.sleep(3 * args.poll)
                again = job_names()
                rows.append(
                    (
                        f"{args.loops} loops triggered at once → Jobs",
                        f"{len(made)} in {all_jobs:.1f} s (POSTs {posted:.1f} s)",
                        "≤ 30 s" + (" ✓" if len(made) == args.loops and all_jobs <= 30 else " ✗"),
                    )
                )
                rows.append(
                    (
                        "Jobs per payload, 3 polls later",
                        f"{len(again)} Jobs, {len(per_loop)} loops",
                        "1 each" + (" ✓" if len(again) == len(made) == len(per_loop) else " ✗"),
                    )
                )

                # ------------------------------------------------ 2. resume after approval
                chosen = sorted(made.values(), key=lambda j: j["metadata"]["name"])[: args.resumes]

                async def pause_all() -> list[tuple[str, str, str]]:
                    store = open_store(store_url)
                    ledger = Ledger(store)
                    out = []
                    try:
                        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as c:
                            for job in chosen:
                                loop = job["metadata"]["labels"]["fleetctl.dev/loop"]
                                run = job["metadata"]["name"]
                                h = {"authorization": f"Bearer {tokens[loop]}"}
                                await c.put(
                                    f"/v1/fleet/runs/{run}", json={"trigger": "webhook"}, headers=h
                                )
                                row = await ledger.create_approval(
                                    loop=loop,
                                    member=loop,
                                    run=run,
                                    server="github",
                                    tool="merge_pr",
                                    arguments={},
                                    ttl_s=3600.0,
                                )
                                await c.patch(
                                    f"/v1/fleet/runs/{run}",
                                    json={
                                        "status": "awaiting_approval",
                                        "outcome": "awaiting_approval",
                                        "approval": {
                                            "approval_id": row["id"],
                                            "call_id": "c",
                                            "name": "github__merge_pr",
                                        },
                                    },
                                    headers=h,
                                )
                                out.append((loop, run, str(row["id"])))
                    finally:
                        await ledger.close()
                        await store.close()
                    return out

                paused = asyncio.run(pause_all())
                for job in chosen:  # the harness exited 0 once paused: the Job completed
                    kube.patch(
                        "batch/v1",
                        "Job",
                        NS,
                        job["metadata"]["name"],
                        {
                            "status": {
                                "completionTime": "2026-01-01T00:00:00Z",
                                "conditions": [{"type": "Complete", "status": "True"}],
                            }
                        },
                        sub="status",
                    )
                time.sleep(2 * args.poll)

                decided_at: dict[str, float] = {}

                async def decide_all() -> None:
                    store = open_store(store_url)
                    ledger = Ledger(store)
                    try:
                        for _, run, approval_id in paused:
                            row = await ledger.decide(approval_id, "approved", "bench", "ok")
                            assert row is not None
                            await ledger.executed(row, {"content": []})
                            decided_at[f"{run}-r1"] = time.perf_counter()
                    finally:
                        await ledger.close()
                        await store.close()

                decided = time.perf_counter()
                asyncio.run(decide_all())
                seen: dict[str, float] = {}
                wanted = set(decided_at)
                while len(seen) < len(wanted) and time.perf_counter() - decided < 10 * args.poll:
                    for j in kube.list("batch/v1", "Job", NS, "fleetctl.dev/trigger=resume"):
                        name = j["metadata"]["name"]
                        if name in decided_at:
                            seen.setdefault(name, time.perf_counter() - decided_at[name])
                    time.sleep(0.05)
                worst = max(seen.values()) if seen else float("inf")
                rows.append(
                    (
                        f"resume Jobs after {len(paused)} approvals decided at once",
                        f"{len(set(seen) & wanted)}/{len(wanted)}, latest {worst:.2f} s "
                        f"({worst / args.poll:.2f} poll periods)",
                        "≤ 2 periods"
                        + (" ✓" if set(seen) >= wanted and worst <= 2 * args.poll else " ✗"),
                    )
                )

                # ------------------------------------------------ 3. idle with finished runs
                async def finish_all() -> None:
                    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as c:
                        for job in made.values():
                            loop = job["metadata"]["labels"]["fleetctl.dev/loop"]
                            run = job["metadata"]["name"]
                            h = {"authorization": f"Bearer {tokens[loop]}"}
                            await c.put(
                                f"/v1/fleet/runs/{run}", json={"trigger": "webhook"}, headers=h
                            )
                            await c.patch(
                                f"/v1/fleet/runs/{run}",
                                json={
                                    "status": "ended",
                                    "outcome": "done",
                                    "steps": 3,
                                    "cost_usd": 0.01,
                                },
                                headers=h,
                            )

                asyncio.run(finish_all())
                for j in kube.list("batch/v1", "Job", NS):
                    if not (j.get("status") or {}).get("completionTime"):
                        kube.patch(
                            "batch/v1",
                            "Job",
                            NS,
                            j["metadata"]["name"],
                            {
                                "status": {
                                    "completionTime": "2026-01-01T00:00:00Z",
                                    "conditions": [{"type": "Complete", "status": "True"}],
                                }
                            },
                            sub="status",
                        )

                def settled() -> int:
                    return sum(
                        1
                        for loop in kube.list(API_VERSION, "AgentLoop", NS)
                        if ((loop.get("status") or {}).get("lastRun") or {}).get("outcome")
                        == "done"
                    )

                t1 = time.perf_counter()
                count = settled()
                while count < args.loops and time.perf_counter() - t1 < 300:
                    time.sleep(1)
                    count = settled()
                timeline.append(
                    f"  {count} loops show their last run done in {time.perf_counter() - t1:.1f} s"
                )
                time.sleep(args.resync + 2 * args.poll)
                before, reads = cluster.writes, cluster.reads
                logged = len(cluster.emulator.write_log) if cluster.emulator else 0
                time.sleep(args.resync * 1.5)
                idle = cluster.writes - before
                if idle and cluster.emulator:
                    timeline += ["writes while idle:"] + [
                        "  " + line[:300] for line in cluster.emulator.write_log[logged:][:10]
                    ]
                rows.append(
                    (
                        f"idle writes over {args.resync * 1.5:.0f} s (1.5 resync periods), "
                        f"{count} loops with finished runs",
                        str(idle),
                        "0" + (" ✓" if idle == 0 else " ✗"),
                    )
                )
                rows.append(
                    (
                        f"idle reads over {args.resync * 1.5:.0f} s",
                        str(cluster.reads - reads),
                        "",
                    )
                )
            stop.set()
    print("\n".join(timeline), file=sys.stderr)
    width = max(len(r[0]) for r in rows)
    value = max(len(r[1]) for r in rows)
    print(f"{'metric':<{width}}  {'measured':<{value}}  target")
    for name, measured, target in rows:
        print(f"{name:<{width}}  {measured:<{value}}  {target}")


if __name__ == "__main__":
    main()
