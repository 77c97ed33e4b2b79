"""A gateway killed (``kill -9``) while it runs an approved call: after a restart on the
same store (SQLite file or Redis) the request is reported ``interrupted`` once its
lease runs out, is never re-run by itself, and an approver can re-run it exactly
once more (``fleetctl approvals retry``) or close it. An idempotency key the
killed gateway left running is reported interrupted, with its age."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from fleetctl.cli import app as cli
from tests.gateway.fakes import free_port
from tests.mcp.conftest import APPROVER, TOKENS, Stack, mcp_session
from tests.mcp.test_approvals import api, fetch, request_merge

LEASE_S = 1.0


class Killable:
    """``python -m gateway`` in its own process, on the stack's config and store."""

    def __init__(self, stack: Stack):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        store = stack.store_url or f"sqlite:{stack.store_path}"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gateway", "--config", str(stack.config_path)),
                *("--port", str(self.port), "--store", store),
            ],
            env={**os.environ, "FLEET_MCP_LEASE_S": str(LEASE_S)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 20
        while True:
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"gateway did not start: {err}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def crashing(request: pytest.FixtureRequest) -> Iterator[tuple[Stack, Killable]]:
    stack: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "redis_stack")
    stack.stop()
    gw = Killable(stack)
    try:
        yield stack, gw
    finally:
        if gw.proc.poll() is None:
            gw.kill()


def wait_for(what: str, check: Any, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def approve_in_background(url: str, approval_id: str) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the gateway is killed under it
            httpx.post(
                f"{url}/approvals/{approval_id}/approve",
                headers={"authorization": f"Bearer {APPROVER}"},
                json={"reason": "ship it"},
                timeout=30,
            )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_killed_mid_call_is_interrupted_then_retried_once(
    crashing: tuple[Stack, Killable],
) -> None:
    stack, gw = crashing
    stack.github.stall[21] = threading.Event()  # type: ignore[attr-defined]
    stack.gateway = gw  # type: ignore[assignment]  # request_merge talks to stack.url
    approval_id = await request_merge(stack, 21)
    approving = approve_in_background(gw.url, approval_id)
    wait_for("the merge to start", lambda: stack.calls("merge_pr"))
    time.sleep(2 * LEASE_S)  # heartbeats keep the claim alive while the call runs
    assert api(stack, "GET", f"/approvals/{approval_id}").json()["state"] == "approved"
    gw.kill()
    approving.join(timeout=10)
    stack.gateway = None

    stack.start()  # restart on the same store
    row = wait_for(
        "the request to be reported interrupted",
        lambda: (
            (r := api(stack, "GET", f"/approvals/{approval_id}").json())["state"] == "interrupted"
            and r
        ),
    )
    assert row["attempt"] == 1 and row["owner"].endswith(f":{gw.proc.pid}")
    assert [h["action"] for h in row["history"]] == ["approve"]
    listed = api(stack, "GET", "/approvals?state=interrupted").json()["approvals"]
    assert [r["id"] for r in listed] == [approval_id]

    fetched = await fetch(stack, approval_id)
    assert fetched.is_error
    text = fetched.content[0].text
    assert f"approval {approval_id} for github.merge_pr is interrupted" in text
    assert "whether the call ran is unknown, and it is not run again by itself" in text
    assert f"fleetctl approvals retry {approval_id}" in text
    assert fetched.meta["fleet/approval"]["state"] == "interrupted"  # type: ignore[index]

    again = api(stack, "POST", f"/approvals/{approval_id}/approve")
    assert again.status_code == 409
    assert "re-run it with retry or close it with deny" in again.json()["error"]["message"]
    assert len(stack.calls("merge_pr")) == 1  # nothing re-ran it by itself

    result = CliRunner().invoke(
        cli,
        [
            *("approvals", "retry", approval_id, "--reason", "checked: not merged"),
            *("--gateway", stack.url, "-o", "json"),
        ],
        env={"FLEET_APPROVER_TOKEN": APPROVER},
    )
    assert result.exit_code == 0, result.output
    assert len(stack.calls("merge_pr")) == 2  # exactly once more
    row = api(stack, "GET", f"/approvals/{approval_id}").json()
    assert (row["state"], row["attempt"], row["decided_by"], row["reason"]) == (
        "executed",
        2,
        "alice",
        "checked: not merged",
    )
    assert [(h["action"], h["by"]) for h in row["history"]] == [
        ("approve", "alice"),
        ("retry", "alice"),
    ]
    fetched = await fetch(stack, approval_id)
    assert not fetched.is_error and fetched.content[0].text == "merged #21"
    store = stack.store_url or f"sqlite:{stack.store_path}"
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["runs", "show", "run-9", "--store", store]
    )
    assert f"approval {approval_id} by alice, attempt 2" in shown.output

    twice = api(stack, "POST", f"/approvals/{approval_id}/retry")
    assert twice.status_code == 409
    assert "it is executed" in twice.json()["error"]["message"]


async def test_interrupted_request_can_be_closed(crashing: tuple[Stack, Killable]) -> None:
    stack, gw = crashing
    stack.github.stall[22] = threading.Event()  # type: ignore[attr-defined]
    stack.gateway = gw  # type: ignore[assignment]
    approval_id = await request_merge(stack, 22)
    approve_in_background(gw.url, approval_id)
    wait_for("the merge to start", lambda: stack.calls("merge_pr"))
    gw.kill()
    stack.gateway = None
    stack.start()
    wait_for(
        "interrupted",
        lambda: api(stack, "GET", f"/approvals/{approval_id}").json()["state"] == "interrupted",
    )
    closed = api(stack, "POST", f"/approvals/{approval_id}/deny", json={"reason": "merged by hand"})
    assert closed.json()["state"] == "denied"
    fetched = await fetch(stack, approval_id)
    assert fetched.is_error
    assert (
        f"approval {approval_id} for github.merge_pr was interrupted (outcome unknown) and then "
        "closed by alice: merged by hand; it was not run again" in fetched.content[0].text
    )
    assert len(stack.calls("merge_pr")) == 1


async def test_key_left_running_by_a_killed_gateway_reports_its_age(
    crashing: tuple[Stack, Killable],
) -> None:
    stack, gw = crashing
    key = {"idempotency-key": "open-pr-7"}
    calling = threading.Thread(target=_call_create_pr, args=(gw.url, key), daemon=True)
    calling.start()
    # Killed once the call reached the server (which sleeps 30 s in create_pr): its key is
    # claimed by then. (A fixed pause raced the call on a loaded machine.)
    wait_for(
        "create_pr to reach the server",
        lambda: any(b'"create_pr"' in e["body"] for e in stack.seen),
    )
    gw.kill()
    calling.join(timeout=10)
    stack.start()
    time.sleep(LEASE_S)
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"], **key) as session:
        with pytest.raises(MCPError) as info:
            await session.call_tool("create_pr", {"title": "t", "delay_s": 30})
    message = info.value.error.message
    assert "github.create_pr with this idempotency key is interrupted: it started " in message
    assert " s ago on " in message and "its outcome is unknown, so it is not run again" in message
    assert info.value.error.data["state"] == "interrupted"  # type: ignore[index]


def _call_create_pr(url: str, headers: dict[str, str]) -> None:
    async def go() -> None:
        async with mcp_session(url + "/mcp/github", TOKENS["release"], **headers) as session:
            await session.call_tool("create_pr", {"title": "t", "delay_s": 30})

    with contextlib.suppress(Exception):  # the gateway is killed under it
        asyncio.run(go())
