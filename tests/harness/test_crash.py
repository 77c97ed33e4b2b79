"""kill -9 anywhere loses nothing: a 20-step run killed after each journal entry, and in the
middle of a write call, ends with the same outcome and state as the uninterrupted run, with
every write executed exactly once, on SQLite and on Redis. Bounds hold across resumes.

The harness runs as a real process (``python -m harness``); ``FLEET_HARNESS_KILL_AFTER=SEQ``
makes it SIGKILL itself right after the gateway acknowledged entry SEQ. The scripted policies
are functions of the request, tagged per run through the trigger input, so many runs share
one stack and a re-sent request gets the same reply.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.harness.conftest import LOOP, Stack, wait
from tests.harness.scripted import Request, call

MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"
STEPS = 20


def twenty_steps(req: Request) -> dict[str, Any]:
    """19 working steps (reads, writes, state) and a finish: the run's 20 maker steps."""
    tag, turn = req.tag(), req.turn
    if turn == STEPS - 1:
        return call("finish", summary=f"{tag} done", artifacts=[f"pr:{tag}"])
    if turn % 4 == 0:
        return call("github__get_issue", number=turn)
    if turn % 4 == 1:
        return call("github__comment", number=turn, body=f"{tag} note {turn}")
    if turn % 4 == 2:
        return call("state", action="merge", value={tag: turn})
    return call("github__create_pr", title=f"{tag} pr {turn}")


def writes(stack: Stack, tag: str) -> list[str]:
    out = [
        f"comment:{e['args']['body']}"
        for e in stack.calls("comment")
        if e["args"]["body"].startswith(f"{tag} ")
    ]
    out += [
        f"pr:{e['args']['title']}"
        for e in stack.calls("create_pr")
        if e["args"]["title"].startswith(f"{tag} ")
    ]
    return sorted(out)


def shape(journal: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a run did, without times and attempts."""
    out = []
    for e in journal:
        if e["kind"] == "model":
            out.append(
                (
                    "model",
                    e["scope"],
                    e["step"],
                    e["message"].get("tool_calls", [{}])[0].get("function", {}).get("name")
                    if e["message"].get("tool_calls")
                    else None,
                )
            )
        elif e["kind"] == "tool":
            out.append(("tool", e["name"], e["result"]["content"]))
        else:
            out.append((e["kind"], e.get("verdict") or e.get("outcome")))
    return out


async def spawn_all(
    stack: Stack, jobs: list[tuple[str, dict[str, str], bool]], path: Any, parallel: int = 4
) -> list[tuple[int, list[dict[str, Any]], str]]:
    sem = asyncio.Semaphore(parallel)

    async def one(
        run: str, extra: dict[str, str], resume: bool
    ) -> tuple[int, list[dict[str, Any]], str]:
        async with sem:
            proc = stack.spawn(run, path, {"tag": run}, resume=resume, **extra)
            return await asyncio.to_thread(wait, proc)

    return await asyncio.gather(*(one(r, e, res) for r, e, res in jobs))


@pytest.mark.timeout(300)
async def test_kill_at_every_step_boundary(any_stack: Stack) -> None:
    stack = any_stack
    stack.scripted.policies[MAKER] = twenty_steps
    stack.scripted.policies[REVIEWER] = lambda req: call("verdict", verdict="pass", reasons=["ok"])
    path = stack.content(harness={"maxSteps": 40, "stallAfterSteps": 8})

    [(code, events, err)] = await spawn_all(stack, [("base", {}, False)], path)
    assert code == 0, err
    assert events[-1]["outcome"] == "done"
    base = stack.journal("base")
    entries = len(base)
    assert (
        entries == 1 + 2 * (STEPS - 1) + 1 + 2 + 1
    )  # context, 19 steps + tools, finish, check, outcome
    base_shape = shape(base)

    # Killed right after each entry but the last (after the outcome there is nothing left).
    runs = [f"k{seq:02d}" for seq in range(1, entries)]
    killed = await spawn_all(
        stack,
        [(r, {"FLEET_HARNESS_KILL_AFTER": str(seq)}, False) for seq, r in enumerate(runs, 1)],
        path,
    )
    assert all(code == -signal.SIGKILL for code, _, _ in killed), [
        k[2] for k in killed if k[0] != -9
    ]
    resumed = await spawn_all(stack, [(r, {}, True) for r in runs], path)
    assert all(code == 0 for code, _, _ in resumed), [r[2] for r in resumed if r[0]]
    state = stack.state().json()["value"]
    base_writes = [w.replace("base ", "", 1) for w in writes(stack, "base")]
    for seq, run in enumerate(runs, 1):
        journal = stack.journal(run)
        record = stack.record(run).json()["run"]
        assert record["outcome"] == "done", (seq, record)
        assert record["attempts"] == 2
        assert record["steps"] == STEPS + 1
        got = [tuple(str(x).replace(run, "base") for x in t) for t in shape(journal)]
        assert got == [tuple(str(x) for x in t) for t in base_shape], seq
        assert [w.replace(f"{run} ", "", 1) for w in writes(stack, run)] == base_writes, seq
        assert state[run] == state["base"]


@pytest.mark.timeout(120)
async def test_kill_in_the_middle_of_a_write_call(any_stack: Stack) -> None:
    stack = any_stack

    def slow_pr(req: Request) -> dict[str, Any]:
        if req.turn == 0:
            return call("github__create_pr", title=f"{req.tag()} slow", delay_s=1.5)
        return call("finish", summary="opened", artifacts=["pr"])

    stack.scripted.policies[MAKER] = slow_pr
    stack.scripted.policies[REVIEWER] = lambda req: call("verdict", verdict="pass", reasons=["ok"])
    path = stack.content()
    proc = stack.spawn("mid", path, {"tag": "mid"})
    # Wait until the call is in flight at the fake server (started, not finished), then kill.
    deadline = time.time() + 30
    while not any(e["kind"] == "model" for e in _journal(stack, "mid")):
        assert time.time() < deadline and proc.poll() is None
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stack.calls("create_pr") == []  # still running on the server
    code, events, err = await asyncio.to_thread(
        wait, stack.spawn("mid", path, {"tag": "mid"}, resume=True)
    )
    assert code == 0, err
    assert events[-1]["outcome"] == "done"
    assert [e["args"]["title"] for e in stack.calls("create_pr")] == ["mid slow"]
    tool = next(e for e in stack.journal("mid") if e["kind"] == "tool")
    assert "opened PR 'mid slow'" in tool["result"]["content"]


def _journal(stack: Stack, run: str) -> list[dict[str, Any]]:
    r = stack.record(run)
    return list(r.json().get("journal") or []) if r.status_code == 200 else []


@pytest.mark.timeout(120)
async def test_bounds_hold_across_three_resumes(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = lambda req: call("github__get_issue", number=req.turn)
    path = stack.content(harness={"maxSteps": 9, "stallAfterSteps": 50})
    # Killed after entries 4, 8 and 12 (model and tool entries alternate after the context).
    for seq in (4, 8, 12):
        code, _, err = await asyncio.to_thread(
            wait, stack.spawn("bounded", path, resume=seq != 4, FLEET_HARNESS_KILL_AFTER=str(seq))
        )
        assert code == -signal.SIGKILL, err
    code, events, err = await asyncio.to_thread(wait, stack.spawn("bounded", path, resume=True))
    assert code == 0, err
    record = stack.record("bounded").json()["run"]
    assert record["outcome"] == "max_steps" and record["steps"] == 9
    assert record["attempts"] == 4
    assert len(stack.scripted.requests(MAKER)) == 9
    assert events[-1]["outcome"] == "max_steps"


def test_the_gateway_lost_is_exit_1(stack: Stack) -> None:
    path = stack.content()
    env_url = "http://127.0.0.1:9"  # nothing listens there
    proc = stack.spawn("lost", path, FLEET_GATEWAY_URL=env_url, FLEET_HARNESS_RETRY_S="1")
    code, _, err = wait(proc)
    assert code == 1 and "gateway" in err
    assert "Traceback" not in err
    _ = subprocess
