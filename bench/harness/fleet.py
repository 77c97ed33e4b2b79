"""Part ``fleet``: 200 runs at once against one gateway; all finish, no step lost or duplicated.

200 ``harness.runner.run`` in this process at once (``asyncio.gather``), against one
gateway process on SQLite, each with a 10-step script of writes (``github__comment``,
the run's id in the body), then ``finish`` and the checker. Afterwards, from the runs
API and the MCP server's own record of what it executed:

- every run ended ``done`` with the scripted step count (10 + finish + checker = 12);
- every journal is 1..N with no gap and no duplicate seq, N as scripted (25 entries:
  context, 10 model + 10 tool, finish, checker, verdict, outcome), and no model step or
  tool call is journalled twice;
- the MCP server executed each run's 10 writes exactly once (counted by run id).

A run that raises instead of ending misses the target; what it left is checked
(nothing stored or executed twice), then it is resumed as its Job's retry would, and
the checks above run on every run. The harness side's event-loop lag is sampled
throughout, since the 200 runs share one loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import httpx

from bench.harness.script import tag
from bench.harness.stack import TOKEN, Stack, load, pct, tree_cpu_s

RUNS = 200
STEPS = 10
MODEL_CALLS = STEPS + 2
ENTRIES = 1 + 2 * STEPS + 4
RESUME_AT_ONCE = 10


def check(record: dict[str, Any], journal: list[dict[str, Any]]) -> dict[str, int]:
    """Problems of one run: duplicated seqs, steps and tool entries, gaps (of any run);
    lost ones and a wrong step count (of an ended run: a run not ended has not taken
    its remaining steps yet, it is ``not_done``)."""
    seqs = [int(e["seq"]) for e in journal]
    counted = Counter(seqs)
    model = Counter((e["scope"], e["step"]) for e in journal if e["kind"] == "model")
    tools = Counter(e["call_id"] for e in journal if e["kind"] == "tool")
    want = set(range(1, ENTRIES + 1))
    ended = record["status"] == "ended"
    return {
        "not_done": int(not ended or record["outcome"] != "done"),
        "wrong_steps": int(ended and record["steps"] != MODEL_CALLS),
        "seq_lost": len(want - set(seqs)) if ended else 0,
        "seq_duplicated": sum(n - 1 for n in counted.values()) + len(set(seqs) - want),
        "steps_lost": max(0, MODEL_CALLS - len(model)) if ended else 0,
        "steps_duplicated": sum(n - 1 for n in model.values()),
        "tools_lost": max(0, STEPS - len(tools)) if ended else 0,
        "tools_duplicated": sum(n - 1 for n in tools.values()),
        "gap": int(seqs != list(range(1, len(seqs) + 1))),
    }


async def lag_monitor(samples: list[float], times: list[float], every: float = 0.05) -> None:
    """How late the event loop wakes a task that sleeps ``every`` seconds: its lag."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(every)
        samples.append(loop.time() - t - every)
        times.append(t)


def client_cost_ms(n: int = 5) -> float:
    """CPU of building one ``httpx2.AsyncClient`` (its default SSL context), in ms."""
    import httpx2

    out = []
    for _ in range(n):
        t = time.thread_time()
        httpx2.AsyncClient()
        out.append(time.thread_time() - t)
    return sorted(out)[n // 2] * 1000


def problems_of(gateway: str, ids: list[str]) -> Counter[str]:
    problems: Counter[str] = Counter()
    with httpx.Client(
        base_url=gateway, headers={"authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        for rid in ids:
            data = client.get(f"/v1/fleet/runs/{rid}").json()
            problems.update(check(data["run"], data["journal"]))
    return problems


def writes_of(executed: list[dict[str, Any]], labels: dict[str, str]) -> tuple[int, int, int, int]:
    """(distinct scripted writes executed, lost, executed twice or more, strays)."""
    bodies = Counter(
        e["args"]["body"]
        for e in executed
        if e["tool"] == "comment" and "-fleet-" in e["args"]["body"]
    )
    wanted = {f"{label} note {turn}" for label in labels.values() for turn in range(STEPS)}
    lost = len(wanted - set(bodies))
    twice = sum(n - 1 for b, n in bodies.items() if b in wanted)
    strays = sum(n for b, n in bodies.items() if b not in wanted)
    return len(set(bodies) & wanted), lost, twice, strays


async def resume(
    ids: list[str], stack: Stack, gateway: str, path: Any, labels: dict[str, str]
) -> list[str]:
    """Resume ``ids`` as their Jobs' retries would, a few at a time, each up to three
    times; the runs still not ended."""
    from harness import settings as harness_settings
    from harness.events import Events
    from harness.runner import run

    gate = asyncio.Semaphore(RESUME_AT_ONCE)

    async def one(rid: str) -> str | None:
        for _ in range(3):
            s = harness_settings.load(str(path), rid, stack.env(gateway, rid, path, labels[rid]))
            async with gate:
                try:
                    await run(s, Events("none"))
                    return None
                except (Exception, asyncio.CancelledError):  # the next attempt resumes it
                    continue
        return rid

    left = await asyncio.gather(*(one(rid) for rid in ids))
    return [rid for rid in left if rid is not None]


def _of(executed: dict[str, Any], ids: list[str], labels: dict[str, str]) -> bool:
    body = str(executed.get("args", {}).get("body", ""))
    return executed["tool"] == "comment" and any(body.startswith(labels[r] + " ") for r in ids)


def measure(stack: Stack, runs: int = RUNS) -> list[tuple[str, str, str, bool]]:
    import importlib

    from harness.events import Events
    from harness.runner import run

    # The clients' modules, imported as a host process that already ran a loop has them
    # (the harness imports them lazily, on the event loop, at its first model / tool call).
    for module in ("openai", "mcp.client.session", "mcp.client.streamable_http", "jsonschema"):
        importlib.import_module(module)

    gateway = stack.gateway("sqlite")
    path = stack.content()
    nonce = os.urandom(3).hex()
    ids = [f"fleet-{i}-{nonce}" for i in range(runs)]
    labels = {rid: tag("w", STEPS, rid) for rid in ids}
    executed_before = len(stack.executed())
    gw_pid = stack.pids["gateway-sqlite"]
    lag: list[float] = []
    lag_at: list[float] = []

    async def at_once(settings: list[Any]) -> tuple[float, list[Any]]:
        lag.clear()
        lag_at.clear()
        monitor = asyncio.create_task(lag_monitor(lag, lag_at))
        t0 = asyncio.get_running_loop().time()
        t = time.perf_counter()
        ends = await asyncio.gather(
            *(run(s, Events("none")) for s in settings), return_exceptions=True
        )
        wall = time.perf_counter() - t
        monitor.cancel()
        lag_at[:] = [x - t0 for x in lag_at]
        return wall, list(ends)

    gw_cpu = tree_cpu_s(gw_pid)
    cpu = time.process_time()
    settings = [stack.settings(gateway, rid, path, labels[rid]) for rid in ids]
    wall, ends = asyncio.run(at_once(settings))
    cpu = time.process_time() - cpu
    gw_cpu = tree_cpu_s(gw_pid) - gw_cpu
    failed = [(rid, e) for rid, e in zip(ids, ends, strict=True) if isinstance(e, BaseException)]
    lags, lags_at = list(lag), list(lag_at)
    first = problems_of(gateway, ids)
    # What the interrupted runs left, before they resume: nothing stored twice, no gap.
    first_dups = first["seq_duplicated"] + first["steps_duplicated"] + first["tools_duplicated"]
    _, _, first_twice, _ = writes_of(stack.executed()[executed_before:], labels)
    resumed_wall = time.perf_counter()
    still = asyncio.run(resume([rid for rid, _ in failed], stack, gateway, path, labels))
    resumed_wall = time.perf_counter() - resumed_wall
    problems = problems_of(gateway, ids)
    ended = {rid: label for rid, label in labels.items() if rid not in still}
    distinct, writes_lost, writes_twice, strays = writes_of(
        stack.executed()[executed_before:], ended
    )
    strays -= sum(1 for e in stack.executed()[executed_before:] if _of(e, still, labels))
    steps = runs * MODEL_CALLS
    lost = problems["seq_lost"] + problems["steps_lost"] + problems["tools_lost"] + writes_lost
    duplicated = (
        problems["seq_duplicated"]
        + problems["steps_duplicated"]
        + problems["tools_duplicated"]
        + writes_twice
    )
    print(f"\n## fleet: {runs} runs at once, {STEPS} writes each, one gateway on SQLite ({load()})")
    print(
        f"wall {wall:.2f} s; {steps} model steps + {runs * STEPS} tool calls + "
        f"{runs * ENTRIES} journal entries; {steps / wall:.0f} steps/s; "
        f"CPU: harness side {cpu:.1f} s ({cpu / steps * 1000:.1f} ms/step), "
        f"gateway {gw_cpu:.1f} s ({gw_cpu / steps * 1000:.1f} ms/step)"
    )
    print(
        f"event-loop lag of the harness side (a 50 ms sleeper): p50 {pct(lags, 50) * 1000:.0f} ms, "
        f"p99 {pct(lags, 99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
        f"(from {lags_at[lags.index(max(lags))]:.1f} s after the start); each run builds 4 "
        f"httpx2 clients (runs, models, an MCP session per member) at "
        f"{client_cost_ms():.1f} ms CPU each (the default SSL context)"
    )
    print(f"runs that raised instead of ending: {len(failed)}")
    kinds = Counter(f"{type(e).__name__}: {str(e)[:120]}" for _, e in failed)
    for what, n in kinds.most_common(5):
        print(f"  {n} × {what}")
    if failed:
        print(
            f"  before resuming them: {first['not_done']} runs not ended, stored twice {first_dups}, "
            f"gaps {first['gap']}, writes executed twice {first_twice}; resumed ({resumed_wall:.1f} s): "
            f"{len(failed) - len(still)} of {len(failed)} ended"
        )
    names = sorted(check({"status": "ended", "outcome": "done", "steps": MODEL_CALLS}, []))
    print("from the runs API: " + ", ".join(f"{k} {problems[k]}" for k in names))
    print(
        f"from the MCP server: {distinct} distinct writes of {len(ended) * STEPS} scripted "
        f"for the {len(ended)} ended runs; "
        f"lost {writes_lost}, executed twice or more {writes_twice}, strays {strays}"
    )
    done_first = runs - first["not_done"]
    ok = not failed and lost == 0 and duplicated == 0 and problems["not_done"] == 0
    ok = ok and problems["wrong_steps"] == 0 and problems["gap"] == 0 and strays == 0
    measured = (
        f"{done_first} done, {lost} lost, {duplicated} duplicated ({wall:.1f} s, {steps / wall:.0f} steps/s)"
        if not failed
        else f"{done_first} done, {len(failed)} raised (after resuming: {runs - problems['not_done']} "
        f"done, {lost} lost, {duplicated} duplicated; {wall:.0f} s)"
    )
    return [
        (f"{runs} runs at once: all done, steps lost / duplicated", "all done, 0 / 0", measured, ok)
    ]
