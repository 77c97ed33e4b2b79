"""Part ``sdk``: the same 50-step conversation run by ``fleet-harness`` (durable) and by the
OpenAI Agents SDK's ``Runner`` (in memory), side by side through one gateway (target:
fleet-harness ≤ 1.5× the SDK's wall time).

Both run in this process (no process start-up in either), against the same gateway
process, scripted provider and MCP server; each builds its clients and MCP session
inside the timed span. The script gives both the same replies (``script.py``); the
harness ends with ``finish`` and its checker's review, one model call more than the
SDK's final answer, so it runs twice per round: with the checker (as deployed) and
without one (``done: {}``, the same 51 model calls as the SDK). Rounds are interleaved
and their order rotates, so the machine's drift hits every side alike.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from typing import Any

from bench.harness import sdk_loop
from bench.harness.script import tag
from bench.harness.stack import Stack, load, spread, waited_s

STEPS = 50
ROUNDS = 5
TARGET_RATIO = 1.5


def measure(stack: Stack, rounds: int = ROUNDS) -> list[tuple[str, str, str, bool]]:
    from harness.events import Events
    from harness.runner import run

    gateway = stack.gateway("sqlite")
    checked, unchecked = stack.content(), stack.content(checker=False)
    nonce = os.urandom(3).hex()

    async def harness_side(path: Any, run_id: str) -> tuple[float, int]:
        settings = stack.settings(gateway, run_id, path, tag("m", STEPS, run_id))
        t = time.perf_counter()
        end = await run(settings, Events("none"))
        wall = time.perf_counter() - t
        if end.outcome != "done":
            raise SystemExit(f"sdk: harness run {run_id} ended {end.outcome}: {end.detail}")
        return wall, end.usage.steps

    async def sdk_side(run_id: str) -> tuple[float, int]:
        label = tag("m", STEPS, run_id)
        system, task = sdk_loop.prompts(unchecked.parent.parent, label)
        t = time.perf_counter()
        result = await sdk_loop.run(gateway, run_id, system, task)
        wall = time.perf_counter() - t
        if result.final_output != f"{label} done":
            raise SystemExit(f"sdk: SDK run {run_id} answered {result.final_output!r}")
        return wall, len(result.raw_responses)

    sides = {
        "fleet-harness + checker": lambda rid: harness_side(checked, rid),
        "fleet-harness, no checker": lambda rid: harness_side(unchecked, rid),
        "Agents SDK Runner": sdk_side,
    }
    walls: dict[str, list[float]] = {k: [] for k in sides}
    calls: dict[str, int] = {}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    queued: dict[str, list[float]] = {k: [] for k in sides}

    async def rounds_() -> None:
        names = list(sides)
        for name in names:  # warm-up: imports, connections, the gateway's first calls
            await sides[name](f"sdk-warm-{len(name)}-{nonce}")
        for r in range(rounds):
            order = names[r % 3 :] + names[: r % 3]
            for name in order:
                gc.collect()
                cpu, q = time.thread_time(), waited_s()
                wall, n = await sides[name](f"sdk-{r}-{names.index(name)}-{nonce}")
                cpus[name].append(time.thread_time() - cpu)
                queued[name].append(waited_s() - q)
                walls[name].append(wall)
                calls[name] = n

    asyncio.run(rounds_())
    print(
        f"\n## sdk: {STEPS} tool steps, in-process, one gateway, {rounds} interleaved rounds ({load()})"
    )
    print(
        f"{'side':<28} {'model calls':>11} {'min s':>7} {'median s':>8} {'max s':>7} "
        f"{'CPU s (med)':>11} {'waited s':>8}"
    )
    for name in sides:
        lo, med, hi = spread(walls[name])
        print(
            f"{name:<28} {calls[name]:>11} {lo:7.3f} {med:8.3f} {hi:7.3f} "
            f"{statistics.median(cpus[name]):11.3f} {statistics.median(queued[name]):8.3f}"
        )
    sdk = statistics.median(walls["Agents SDK Runner"])
    with_checker = statistics.median(walls["fleet-harness + checker"]) / sdk
    without = statistics.median(walls["fleet-harness, no checker"]) / sdk
    per_round = [
        h / s
        for h, s in zip(walls["fleet-harness, no checker"], walls["Agents SDK Runner"], strict=True)
    ]
    print(
        f"ratio of medians, fleet-harness / SDK: {with_checker:.2f}× with the checker pass "
        f"({calls['fleet-harness + checker']} model calls), {without:.2f}× without "
        f"({calls['fleet-harness, no checker']} model calls, as the SDK's {calls['Agents SDK Runner']}); "
        f"per round, no checker: {', '.join(f'{x:.2f}' for x in per_round)}"
    )
    fmt = "{:.2f} / {:.2f} / {:.2f} s"
    return [
        (
            "50-step run wall time, Agents SDK Runner (in memory)",
            "–",
            fmt.format(*spread(walls["Agents SDK Runner"])),
            True,
        ),
        (
            "50-step run wall time, fleet-harness (durable) + checker",
            "–",
            fmt.format(*spread(walls["fleet-harness + checker"])),
            True,
        ),
        (
            "fleet-harness / SDK wall, ratio of medians, + checker",
            f"≤ {TARGET_RATIO:g}×",
            f"{with_checker:.2f}×",
            with_checker <= TARGET_RATIO,
        ),
        (
            "fleet-harness / SDK wall, ratio of medians, no checker",
            f"≤ {TARGET_RATIO:g}×",
            f"{without:.2f}× (per round {min(per_round):.2f}–{max(per_round):.2f})",
            without <= TARGET_RATIO,
        ),
    ]
