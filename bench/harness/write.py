"""Part ``write``: a durable step write through the gateway (target ≤ 2 ms p50, ≤ 10 ms p99).

``harness.runs.Runs.append``, the harness's own client (harness/http1.py, one keep-alive
connection), times 5,000 journal appends of realistic entries, alternating a model
entry with one tool call (~1 KB) and a tool entry (~2 KB), each with the record patch
the runner sends beside it, against a gateway process on SQLite (default synchronous
mode: ``NORMAL``, WAL) and, for comparison, on Redis (a real redis-server, AOF on,
fsync every second, as ``tests/gateway/conftest.py`` starts it). The appends go in runs
of 100 entries (a run's realistic length), the two stores interleaved run by run so
the machine's drift hits both alike. Also shown: the client's own CPU per append, the
servers' CPU per request, and how long the client and the servers waited for a CPU
during each append (``/proc/<pid>/task/*/schedstat``): the p50 / p99 of the appends
that waited under 0.2 ms show the software's own latency apart from the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import orjson

from bench.harness.script import LOOP
from bench.harness.stack import TOKEN, Stack, load, pct, tree_cpu_s, waited_s

TOTAL = 5000
PER_RUN = 100
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
UNQUEUED_MS = 0.2


def model_entry(seq: int, step: int) -> dict[str, Any]:
    body = f"Step {step}: the failing test is test_checkout_totals; " * 12
    return {
        "seq": seq,
        "kind": "model",
        "scope": "main",
        "attempt": 1,
        "t": round(seq * 0.0123, 4),
        "member": LOOP,
        "step": step,
        "message": {
            "role": "assistant",
            "content": "Commenting on the issue with what I found.",
            "tool_calls": [
                {
                    "id": f"call_{seq}_0",
                    "type": "function",
                    "function": {
                        "name": "github__comment",
                        "arguments": orjson.dumps({"number": 1234, "body": body[:640]}).decode(),
                    },
                }
            ],
        },
        "tokens_in": 5321 + step * 40,
        "tokens_out": 212,
        "cost_usd": 0.00616,
    }


def tool_entry(seq: int, step: int) -> dict[str, Any]:
    text = (
        f"issue #1234 (step {step}): CI run 8812 failed in tests/checkout/test_totals.py::"
        "test_rounding with AssertionError: expected 10.05, got 10.04. "
    ) * 14
    return {
        "seq": seq,
        "kind": "tool",
        "scope": "main",
        "attempt": 1,
        "t": round(seq * 0.0123, 4),
        "call_id": f"call_{seq - 1}_0",
        "name": "github__comment",
        "result": {"content": text[:1850], "is_error": False},
        "fingerprint": os.urandom(16).hex(),
    }


def patch(step: int, seq: int) -> dict[str, Any]:
    return {
        "status": "running",
        "steps": step,
        "tokens": step * 5573,
        "cost_usd": round(step * 0.00616, 8),
        "active_s": round(seq * 0.0123, 3),
        "checker_rounds": 0,
    }


def _queued(pids: list[int]) -> float:
    return waited_s() + sum(waited_s(p) for p in pids)


async def one_run(
    gateway: str,
    run_id: str,
    pids: list[int] = (),  # type: ignore[assignment]
) -> tuple[list[float], list[float], list[float]]:
    """Wall, client CPU and run-queue wait (the client's and ``pids``') of each append."""
    from harness.runs import Runs

    runs = Runs(gateway, TOKEN, run_id, LOOP)
    wall: list[float] = []
    cpu: list[float] = []
    queued: list[float] = []
    try:
        await runs.open("manual", None)
        for seq in range(1, PER_RUN + 1):
            step = (seq + 1) // 2
            entry = model_entry(seq, step) if seq % 2 else tool_entry(seq, step)
            body = patch(step, seq)
            q = _queued(pids)
            c, t = time.thread_time(), time.perf_counter()
            await runs.append(entry, body)
            wall.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            queued.append(_queued(pids) - q)
    finally:
        await runs.aclose()
    return wall, cpu, queued


async def appends(
    gateways: dict[str, str], servers: dict[str, list[int]], nonce: str
) -> dict[str, tuple[list[float], list[float], list[float], float]]:
    """store → (wall, client CPU and run-queue wait of the client and the servers per
    append, server CPU over the timed runs)."""
    out: dict[str, tuple[list[float], list[float], list[float], float]] = {
        k: ([], [], [], 0.0) for k in gateways
    }
    # Warm both paths (connections, the stores' first writes) before timing.
    for store, url in gateways.items():
        await one_run(url, f"write-warm-{store}-{nonce}")
    for i in range(TOTAL // PER_RUN):
        order = list(gateways.items()) if i % 2 == 0 else list(gateways.items())[::-1]
        for store, url in order:
            before = sum(tree_cpu_s(p) for p in servers[store])
            wall, cpu, queued = await one_run(url, f"write-{store}-{i}-{nonce}", servers[store])
            used = sum(tree_cpu_s(p) for p in servers[store]) - before
            w, c, q, s = out[store]
            out[store] = (w + wall, c + cpu, q + queued, s + used)
    return out


def measure(stack: Stack) -> list[tuple[str, str, str, bool]]:
    gateways = {"sqlite": stack.gateway("sqlite"), "redis": stack.gateway("redis")}
    nonce = os.urandom(3).hex()
    sizes = [len(orjson.dumps(model_entry(1, 1))), len(orjson.dumps(tool_entry(2, 1)))]
    servers = {
        "sqlite": [stack.pids["gateway-sqlite"]],
        "redis": [stack.pids["gateway-redis"], stack.pids["redis"]],
    }
    results = asyncio.run(appends(gateways, servers, nonce))
    ms = 1000.0
    print(
        f"\n## write: Runs.append, {TOTAL} appends per store (runs of {PER_RUN}; model entry "
        f"{sizes[0]} B, tool entry {sizes[1]} B, + record patch), through a gateway process"
    )
    print(
        "(client CPU: the bench thread's, p50 per append; server CPU: the gateway process and "
        "its fold process, + redis-server, per request, the run's open included; waited: time "
        "the client and the servers spent runnable but waiting for a CPU, mean per append; "
        f"unqueued: the appends during which that wait was under {UNQUEUED_MS:g} ms)"
    )
    print(f"({load()})")
    print(
        f"{'store':<28} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'client CPU':>10} {'server CPU':>10} {'waited':>7} {'unqueued: n':>12} {'p50':>6} {'p99':>6}"
    )
    rows = []
    for store, (wall, cpu, queued, server) in results.items():
        requests = len(wall) + TOTAL // PER_RUN
        w = [x * ms for x in wall]
        calm = [x * ms for x, q in zip(wall, queued, strict=True) if q * ms < UNQUEUED_MS]
        print(
            f"{store + (' (synchronous=NORMAL)' if store == 'sqlite' else ' (AOF everysec)'):<28} "
            f"{pct(w, 50):7.3f} {pct(w, 90):7.3f} {pct(w, 99):7.3f} {max(w):7.1f} "
            f"{statistics.median(cpu) * ms:10.3f} {server / requests * ms:10.3f} "
            f"{statistics.mean(queued) * ms:7.3f} {len(calm):12d} "
            + (f"{pct(calm, 50):6.3f} {pct(calm, 99):6.3f}" if calm else "     –      –")
        )
        p50, p99 = pct(w, 50), pct(w, 99)
        label = "SQLite" if store == "sqlite" else "Redis (comparison)"
        calm_text = (
            f"; unqueued {len(calm) / len(w):.0%}: p50 {pct(calm, 50):.2f}, p99 {pct(calm, 99):.2f}"
            if calm
            else ""
        )
        rows.append(
            (
                f"durable step write p50 / p99, {label}",
                f"≤ {TARGET_P50_MS:g} / ≤ {TARGET_P99_MS:g} ms" if store == "sqlite" else "–",
                f"p50 {p50:.2f}, p99 {p99:.2f}, min {min(w):.2f}, max {max(w):.0f} ms{calm_text}",
                (p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS) if store == "sqlite" else True,
            )
        )
    return rows
