"""The CPU account of a ``fleet-harness`` process (``FLEET_HARNESS_CPU_SPLIT=1``), which the
bench's ``cpu`` part reads to tell the harness's own CPU from the model's and the tools':
every step event carries running totals that only grow, the model and tool calls are in
them, and they never exceed the process's own clock. Off, the events carry nothing more.
"""

from __future__ import annotations

import asyncio
import gc
import itertools

from harness.cpu import Split
from tests.harness.conftest import LOOP, Stack, wait
from tests.harness.scripted import call, plan

MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"
KEYS = ("process_ms", "model_ms", "tool_ms", "journal_ms", "gc_ms")


async def test_the_step_events_carry_the_split(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("github__get_issue", number=1),
        call("github__create_pr", title="Fix #1"),
        call("github__get_issue", number=2),
        call("finish", summary="fixed #1", artifacts=["pr:fix"]),
    )
    stack.scripted.policies[REVIEWER] = plan(
        call("verdict", verdict="pass", reasons=["the PR fixes the issue"])
    )
    path = stack.content()
    code, events, err = await asyncio.to_thread(
        wait, stack.spawn("split-on", path, FLEET_HARNESS_CPU_SPLIT="1")
    )
    assert code == 0, err
    assert events[-1]["outcome"] == "done"
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == 5
    accounts = [e["cpu"] for e in steps]
    assert all(set(a) == set(KEYS) for a in accounts)
    for before, after in itertools.pairwise(accounts):
        assert all(after[k] >= before[k] for k in KEYS), (before, after)
    first, last = accounts[0], accounts[-1]
    # the first step's model call is in its event; the tool calls come after it
    assert first["model_ms"] > 0 and first["tool_ms"] == 0
    assert last["tool_ms"] > first["tool_ms"] and last["model_ms"] > first["model_ms"]
    assert last["journal_ms"] > 0
    # thread CPU inside the calls is part of the process's CPU, never more
    for a in accounts:
        assert a["model_ms"] + a["tool_ms"] + a["journal_ms"] < a["process_ms"]


async def test_off_the_events_carry_no_account(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("github__get_issue", number=1),
        call("finish", summary="read #1", artifacts=[]),
    )
    stack.scripted.policies[REVIEWER] = plan(call("verdict", verdict="pass", reasons=["ok"]))
    code, events, err = await asyncio.to_thread(wait, stack.spawn("split-off", stack.content()))
    assert code == 0, err
    steps = [e for e in events if e["event"] == "step"]
    assert steps and not [e for e in steps if "cpu" in e]


def test_the_switch_and_the_collector_hook() -> None:
    assert not Split.from_env({}).enabled
    assert not Split.from_env({"FLEET_HARNESS_CPU_SPLIT": "0"}).enabled
    split = Split.from_env({"FLEET_HARNESS_CPU_SPLIT": "1"})
    assert split.enabled and split.fields()["cpu"]["gc_ms"] == 0
    garbage = []
    for _ in range(1000):
        cycle: list[object] = []
        cycle.append(cycle)
        garbage.append(cycle)
    del garbage, cycle
    gc.collect()
    assert split.gc_ns > 0
    split.close()
    assert split._collecting not in gc.callbacks
    assert Split().fields() == {}
