"""A sandbox pod killed mid-run is resumed by the Job's one retry, not restarted with a fresh
allowance: the harness runs as a process with the environment the rendered Job gives each of
its pods (the run id from the pod's ``job-name`` label, which every pod of a Job carries), on
the harness test stack (the real gateway, a scripted provider, a fake GitHub MCP server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.render import manual_job, render_loop, resume_job
from tests.fleet_operator.test_render import LOOPS, POLICY
from tests.harness.conftest import LOOP, ROOT, TOKENS, Stack, _stack, wait
from tests.harness.scripted import Request, call

pytestmark = pytest.mark.e2e
STEPS = 8


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    yield from _stack(tmp_path, monkeypatch, f"sqlite:{tmp_path / 'gw.sqlite3'}")


def cronjob() -> dict[str, Any]:
    (cron,) = [
        c
        for c in render_loop(LOOPS["cost-report"], POLICY, namespace="ns")
        if c["kind"] == "CronJob"
    ]
    return cron


def pod_env(
    job: dict[str, Any], stack: Stack, definition: Path
) -> tuple[list[str], dict[str, str]]:
    """The harness container's args and environment in a pod of ``job``, resolved as the
    kubelet resolves them; the pod's file layout (definition, content, workspace) is the
    stack's temporary one, and its gateway the stack's."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    labels = {**job["spec"]["template"]["metadata"]["labels"], "job-name": job["metadata"]["name"]}
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            assert path.startswith("metadata.labels['") and path.endswith("']"), path
            env[item["name"]] = labels[path[len("metadata.labels['") : -2]]
        else:
            assert source["secretKeyRef"]["key"] == "token"
            env[item["name"]] = TOKENS[LOOP]
    env.update(
        FLEET_GATEWAY_URL=stack.url,
        FLEET_LOOP=LOOP,
        FLEET_DEFINITION=str(definition),
        FLEET_CONTENT_DIR=str(definition.parent.parent),
        FLEET_TOKENS_DIR=str(definition.parent.parent / "tokens"),
        FLEET_WORKSPACE=str(stack.tmp / "workspace"),
        HOME=str(stack.tmp),
    )
    args = [
        a if a != "/etc/fleet/loop/definition.json" else str(definition) for a in container["args"]
    ]
    return args, env


def pod(args: list[str], env: dict[str, str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        env={**os.environ, **env, **extra},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def steps(req: Request) -> dict[str, Any]:
    if req.turn == STEPS - 1:
        return call("finish", summary="done", artifacts=["pr"])
    if req.turn % 2:
        return call("github__comment", number=req.turn, body=f"note {req.turn}")
    return call("github__get_issue", number=req.turn)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["manual", "resume"])
def test_a_killed_pod_is_resumed_once_by_the_jobs_retry(stack: Stack, kind: str) -> None:
    stack.scripted.policies[LOOP] = steps
    stack.scripted.policies[f"{LOOP}/reviewer"] = lambda req: call(
        "verdict", verdict="pass", reasons=["ok"]
    )
    definition = stack.content(harness={"maxSteps": 40, "stallAfterSteps": 8})
    cron = cronjob()
    if kind == "manual":
        job = manual_job(cron, "retry001")
    else:  # a resume Job's pods name the run they resume, whatever the Job is called
        job = resume_job(cron, "cost-report-mretry001", 1, "manual")
    assert job["spec"]["backoffLimit"] == 1  # one retry after a failed pod
    args, env = pod_env(job, stack, definition)
    run = env["FLEET_RUN_ID"]
    assert run == "cost-report-mretry001"
    if kind == "resume":
        assert stack.record(run).status_code == 404
        # (a resume Job exists only for a run that was opened; open it as its first pod did)
        first, _, text = wait(
            pod(["run", "--definition", str(definition)], env, FLEET_HARNESS_KILL_AFTER="3")
        )
        assert first == -signal.SIGKILL, text

    # The first pod of the Job dies mid-run (SIGKILL after journal entry 6).
    code, _, text = wait(pod(args, env, FLEET_HARNESS_KILL_AFTER="6"))
    assert code == -signal.SIGKILL, text
    killed = stack.record(run).json()["run"]
    assert killed["status"] == "running" and killed["steps"] > 0
    # The Job's retry: a new pod with the same environment, so the same run id.
    code, events, text = wait(pod(args, env))
    assert code == 0, text
    start = next(e for e in events if e["event"] == "start")
    assert start["resumed"] is True and start["run"] == run
    record = stack.record(run).json()["run"]
    assert record["outcome"] == "done" and record["status"] == "ended"
    assert record["attempts"] == (3 if kind == "resume" else 2)
    assert record["steps"] == STEPS + 1  # counted over both pods: no fresh allowance
    journal = stack.journal(run)
    assert [e["seq"] for e in journal] == list(range(1, len(journal) + 1))
    # The retry went on from the last entry the killed pod stored, as one more attempt.
    before = [1] * 6 if kind == "manual" else [1] * 3 + [2] * 3
    after = len(journal) - len(before)
    assert [e["attempt"] for e in journal] == before + [before[-1] + 1] * after
    # Every write ran once, though a pod died between them.
    bodies = [e["args"]["body"] for e in stack.calls("comment")]
    assert sorted(bodies) == sorted(set(bodies)) and len(bodies) == (STEPS - 1) // 2
