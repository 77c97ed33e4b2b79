"""Tool calls as trace steps next to the LLM steps, ``fleetctl runs show`` and
``fleetctl cost`` over them, and ``fleetctl approvals`` against a live gateway."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from fleetctl.cli import app
from gateway.rollup import rollup
from tests.mcp.conftest import APPROVER, TOKENS, Stack, mcp_session, traces

RUN = {"x-fleet-run-id": "run-77"}


async def drive(stack: Stack) -> str:
    """One run: a read, a refused write (checker), a guarded read, a pending merge."""
    url = stack.url + "/mcp/github"
    async with mcp_session(url, TOKENS["release"], **RUN, **{"x-fleet-step": "1"}) as session:
        await session.call_tool("get_issue", {"number": 1})
    async with mcp_session(
        url, TOKENS["triage/reviewer"], **RUN, **{"x-fleet-step": "2"}
    ) as session:
        with pytest.raises(MCPError):
            await session.call_tool("create_pr", {"title": "x"})
    async with mcp_session(url, TOKENS["release"], **RUN, **{"x-fleet-step": "3"}) as session:
        await session.call_tool("get_issue", {"number": 777})
        pending = await session.call_tool("merge_pr", {"number": 3})
    return str(pending.meta["fleet/approval"]["id"])  # type: ignore[index]


async def test_every_tool_call_is_a_trace_step(stack: Stack) -> None:
    approval_id = await drive(stack)
    steps = await traces(stack, "run-77")
    got = [
        (
            t["kind"],
            t["member"],
            t["step"],
            t["server"],
            t["tool"],
            t["outcome"],
            t.get("approval_id"),
        )
        for t in steps
    ]
    assert got == [
        ("tool", "release", 1, "github", "get_issue", "ok", None),
        ("tool", "triage/reviewer", 2, "github", "create_pr", "denied", None),
        ("tool", "release", 3, "github", "get_issue", "ok", None),
        ("tool", "release", 3, "github", "merge_pr", "pending", approval_id),
    ]
    assert all(t["latency_ms"] >= 0 for t in steps)
    redacted = steps[2]["guardrails"]
    assert {(v["hook"], v["detector"], v["action"]) for v in redacted} == {
        ("mcp_post_tool", "secrets", "redact"),
        ("mcp_post_tool", "pii", "redact"),
    }
    by_loop = {r["key"]: r for r in rollup(steps, "loop")}
    assert (
        by_loop["release"]["tool_calls"],
        by_loop["triage"]["tool_calls"],
        by_loop["triage"]["errors"],
    ) == (3, 1, 1)


async def test_runs_show_timeline(stack: Stack) -> None:
    approval_id = await drive(stack)
    out = await asyncio.to_thread(
        CliRunner().invoke, app, ["runs", "show", "run-77", "--store", f"sqlite:{stack.store_path}"]
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "run run-77: 0 LLM steps, 4 tool calls, $0.0000"
    assert [line.split()[4:6] for line in lines[2:]] == [
        ["github.get_issue", "ok"],
        ["github.create_pr", "denied"],
        ["github.get_issue", "ok"],
        ["github.merge_pr", "pending"],
    ]
    assert f"approval {approval_id}" in lines[-1]


async def test_approvals_cli(stack: Stack) -> None:
    approval_id = await drive(stack)
    runner = CliRunner(env={"ALICE_TOKEN": APPROVER, "LOOP_TOKEN": TOKENS["release"]})

    def cli(*args: str) -> Any:
        return runner.invoke(
            app, ["approvals", *args, "--gateway", stack.url, "--token-env", "ALICE_TOKEN"]
        )

    listed = await asyncio.to_thread(cli, "list", "-o", "json")
    assert [r["id"] for r in json.loads(listed.output)] == [approval_id]
    shown = await asyncio.to_thread(cli, "show", approval_id)
    assert "tool:        merge_pr" in shown.output and '{"number": 3}' in shown.output
    approved = await asyncio.to_thread(cli, "approve", approval_id, "--reason", "ok")
    assert approved.exit_code == 0
    assert (
        "state:       executed" in approved.output and "result:      merged #3" in approved.output
    )
    twice = await asyncio.to_thread(cli, "deny", approval_id)
    assert (twice.exit_code, twice.output.strip()) == (
        2,
        f"error: cannot deny approval {approval_id}: it is executed (by alice); "
        "the call already ran and its result is stored for the run",
    )
    as_loop = await asyncio.to_thread(
        runner.invoke,
        app,
        ["approvals", "list", "--gateway", stack.url, "--token-env", "LOOP_TOKEN"],
    )
    assert as_loop.exit_code == 2
    assert "loop and sub-agent tokens cannot list or decide approvals" in as_loop.output
    assert len(stack.calls("merge_pr")) == 1


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_runs_show_right_after_each_call_includes_it(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """The trace step is in the store before the caller has the answer."""
    stack: Stack = request.getfixturevalue("stack" if backend == "sqlite" else "redis_stack")
    store = stack.store_url or f"sqlite:{stack.store_path}"
    runner = CliRunner()
    async with mcp_session(
        stack.url + "/mcp/github", TOKENS["release"], **{"x-fleet-run-id": "run-now"}
    ) as session:
        for n in range(1, 6):
            await session.call_tool("get_issue", {"number": n})
            shown = await asyncio.to_thread(
                runner.invoke, app, ["runs", "show", "run-now", "--store", store, "-o", "json"]
            )
            assert shown.exit_code == 0, shown.output
            assert [t["tool"] for t in json.loads(shown.output)] == ["get_issue"] * n
