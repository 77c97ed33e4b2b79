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
import os
import signal
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest

from tests.harness.conftest import LOOP, ROOT, Stack, wait
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
        elif e["kind"] == "tool" and e["name"] == "state":
            out.append(("tool", "state", e["result"]["is_error"]))  # versions move with other runs
        elif e["kind"] == "tool":
            out.append(("tool", e["name"], e["result"]["content"]))
        else:
            out.append((e["kind"], e.get("verdict") or e.get("outcome")))
    return out


class Zygote:
    """``tests.harness.zygote``: harness attempts forked from a warm process."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.n = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.zygote"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        assert orjson.loads(self.proc.stdout.readline()) == {"ready": True}

    def attempt(
        self, run: str, path: Any, *, resume: bool, **extra: str
    ) -> tuple[int, list[dict[str, Any]], str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.n += 1
        out = self.stack.tmp / f"attempt-{run}-{self.n}.log"
        argv = ["run", "--definition", str(path)] + (["--resume", run] if resume else [])
        env = {**os.environ, **self.stack.env(run, path, {"tag": run}, **extra)}
        self.proc.stdin.write(orjson.dumps({"argv": argv, "env": env, "out": str(out)}) + b"\n")
        self.proc.stdin.flush()
        status = orjson.loads(self.proc.stdout.readline())["status"]
        text = out.read_text()
        events = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
        return status, events, text

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


async def chain(z: Zygote, run: str, path: Any, kills: list[tuple[str, int]]) -> None:
    """Run ``run`` once per kill point, each attempt SIGKILLed there, then to its end."""
    for i, (where, seq) in enumerate(kills):
        extra = {f"FLEET_HARNESS_KILL_{where.upper()}": str(seq)}
        code, _, text = await asyncio.to_thread(z.attempt, run, path, resume=i > 0, **extra)
        assert code == -signal.SIGKILL, (where, seq, text)
    code, events, text = await asyncio.to_thread(z.attempt, run, path, resume=True)
    assert code == 0, text
    assert events[-1]["outcome"] == "done"


def same_run(stack: Stack, run: str, base: str, attempts: int) -> None:
    record = stack.record(run).json()["run"]
    assert record["outcome"] == "done", record
    assert record["attempts"] == attempts
    assert record["steps"] == STEPS + 1
    want = [tuple(str(x) for x in t) for t in shape(stack.journal(base))]
    got = [tuple(str(x).replace(run, base) for x in t) for t in shape(stack.journal(run))]
    assert got == want
    assert [w.replace(f"{run} ", "", 1) for w in writes(stack, run)] == [
        w.replace(f"{base} ", "", 1) for w in writes(stack, base)
    ]
    state = stack.state().json()["value"]
    assert state[run] == state[base]


@pytest.mark.timeout(300)
async def test_kill_at_every_step_boundary(stack: Stack, redis_stack: Stack) -> None:
    """On both stores at once: after every journal entry (the run killed once per entry, each
    attempt going one entry further), and before every write's result is stored."""

    async def on(s: Stack) -> None:
        s.scripted.policies[MAKER] = twenty_steps
        s.scripted.policies[REVIEWER] = lambda req: call("verdict", verdict="pass", reasons=["ok"])
        path = s.content(harness={"maxSteps": 40, "stallAfterSteps": 8})
        z = Zygote(s)
        try:
            code, events, text = await asyncio.to_thread(z.attempt, "base", path, resume=False)
            assert code == 0 and events[-1]["outcome"] == "done", text
            base = s.journal("base")
            # context, 19 steps with their tool results, the finish, the check, the outcome
            assert len(base) == 1 + 2 * (STEPS - 1) + 1 + 2 + 1
            after = [("after", e["seq"]) for e in base[:-1]]
            await chain(z, "every", path, after)
            same_run(s, "every", "base", len(after) + 1)
            # Killed with a result in hand, before it was journalled: a write is re-sent with
            # its key and answered from the gateway's store, not run again.
            before = [
                ("before", e["seq"])
                for e in base
                if e["kind"] == "tool" and e["name"] != "github__get_issue"
            ]
            await chain(z, "unstored", path, before)
            same_run(s, "unstored", "base", len(before) + 1)
        finally:
            z.close()

    await asyncio.gather(on(stack), on(redis_stack))


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


def test_a_gateway_url_that_is_not_http_is_a_usage_error(stack: Stack) -> None:
    path = stack.content()
    proc = stack.spawn("badurl", path, FLEET_GATEWAY_URL="gateway.fleet:8080")
    code, _, err = wait(proc)
    assert code == 2 and "$FLEET_GATEWAY_URL is 'gateway.fleet:8080'" in err
    assert "http://host:port" in err and "Traceback" not in err
