"""The aggregated ``/mcp``: two SDK-built fake servers (github with its credential,
linear without) behind one endpoint, through the official ``mcp`` client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp.types as types
import orjson
import pytest
from mcp.shared.exceptions import MCPError

from gateway.store import open_store
from tests.gateway.fakes import ServerThread, free_port
from tests.mcp import fakelinear
from tests.mcp.conftest import APPROVER, TOKENS, Stack, config, mcp_session, traces


def with_linear(github_url: str, linear_url: str, **overrides: Any) -> dict[str, Any]:
    cfg = config(github_url, **overrides)
    cfg["mcp_servers"]["linear"] = {
        "url": linear_url + "/mcp",
        "tools": {"read": ["get_*"], "write": ["update_ticket"]},
    }
    cfg["loops"]["release"]["mcp"]["linear"] = ["read", "write"]
    return cfg


@pytest.fixture
def agg(tmp_path: Path, github: tuple[ServerThread, list[dict[str, Any]]]) -> Iterator[Stack]:
    thread, executed = github
    server = fakelinear.build()
    with ServerThread(server.streamable_http_app()) as linear:
        path = tmp_path / "gateway.json"
        path.write_bytes(orjson.dumps(with_linear(thread.url, linear.url)))
        s = Stack(thread, executed, path, tmp_path / "gw.sqlite3")
        s.linear = server.executed  # type: ignore[attr-defined]
        s.start()
        try:
            yield s
        finally:
            s.stop()


def approve(stack: Stack, approval_id: str, action: str = "approve") -> httpx.Response:
    return httpx.post(
        f"{stack.url}/approvals/{approval_id}/{action}",
        headers={"authorization": f"Bearer {APPROVER}"},
        timeout=10,
    )


async def test_every_granted_tool_once_under_its_server(agg: Stack) -> None:
    async with mcp_session(agg.url + "/mcp", TOKENS["release"]) as session:
        init = session.initialize_result
        assert init is not None and init.server_info.name == "fleet-gateway"
        names = [t.name for t in (await session.list_tools()).tools]
        assert len(names) == len(set(names))
        assert {"github__get_issue", "github__merge_pr", "github__delete_branch"} <= set(names)
        assert {"linear__get_ticket", "linear__update_ticket"} <= set(names)
        assert names.count("fleet_approval_result") == 1
        read = await session.call_tool("github__get_issue", {"number": 4})
        assert not read.is_error and read.content[0].text == "issue 4: the build is red"  # type: ignore[union-attr]
        wrote = await session.call_tool("linear__update_ticket", {"key": "L-1", "state": "done"})
        assert wrote.content[0].text == "L-1 is now done"  # type: ignore[union-attr]
    assert agg.calls("get_issue") == [{"tool": "get_issue", "args": {"number": 4}}]
    assert agg.linear == [  # type: ignore[attr-defined]
        {"tool": "update_ticket", "args": {"key": "L-1", "state": "done"}}
    ]
    # The same trace and metrics as on /mcp/<server>: labelled with the server.
    steps = await traces(agg, None)
    assert {(s["server"], s["tool"], s["outcome"]) for s in steps} >= {
        ("github", "get_issue", "ok"),
        ("linear", "update_ticket", "ok"),
    }
    metrics = httpx.get(agg.url + "/metrics", timeout=10).text
    assert (
        'fleet_gateway_mcp_tool_calls_total{outcome="ok",server="linear",tool="update_ticket"'
        in metrics
    )


async def test_grants_and_names_as_on_each_server(agg: Stack) -> None:
    async with mcp_session(agg.url + "/mcp", TOKENS["triage"]) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        # triage: github read + comment, no linear grant at all.
        assert "github__get_issue" in names and "github__comment" in names
        assert not any(n.startswith("linear__") for n in names)
        assert "github__merge_pr" not in names and "fleet_approval_result" not in names
        with pytest.raises(Exception) as denied:
            await session.call_tool("github__create_pr", {"title": "x"})
        assert "no grant for github.create_pr" in str(denied.value)
        with pytest.raises(Exception) as bare:
            await session.call_tool("get_issue", {"number": 1})
        assert "did you mean 'github__get_issue'" in str(bare.value)
        with pytest.raises(Exception) as other:
            await session.call_tool("linear__get_ticket", {"key": "L-1"})
        assert "/mcp has no tool 'linear__get_ticket'" in str(other.value)
    assert agg.calls("create_pr") == []


async def test_prompts_and_resources_namespaced(agg: Stack) -> None:
    async with mcp_session(agg.url + "/mcp", TOKENS["release"]) as session:
        prompts = [p.name for p in (await session.list_prompts()).prompts]
        assert prompts == ["linear__triage_prompt"]
        got = await session.get_prompt("linear__triage_prompt", {"key": "L-7"})
        assert got.messages[0].content.text == "Triage ticket L-7: read it, then label it."  # type: ignore[union-attr]
        resources = [str(r.uri) for r in (await session.list_resources()).resources]
        assert resources == ["fleet-mcp://linear/board://today"]
        templates = (await session.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["fleet-mcp://linear/ticket://{key}"]
        read = await session.read_resource("fleet-mcp://linear/ticket://L-9")
        assert [(str(c.uri), c.text) for c in read.contents] == [  # type: ignore[union-attr]
            ("fleet-mcp://linear/ticket://L-9", "ticket L-9 body")
        ]
        await session.send_ping()


async def test_session_bound_to_its_identity_and_closed(agg: Stack) -> None:
    def post(token: str, sid: str | None, msg: dict[str, Any]) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        if sid:
            headers["mcp-session-id"] = sid
        return httpx.post(agg.url + "/mcp", content=orjson.dumps(msg), headers=headers, timeout=10)

    init = post(TOKENS["release"], None, {"jsonrpc": "2.0", "id": 1, "method": "initialize"})
    sid = init.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert post(TOKENS["release"], sid, listing).status_code == 200
    assert post(TOKENS["triage"], sid, listing).status_code == 404
    assert post(TOKENS["release"], sid + "x", listing).status_code == 404
    assert post(TOKENS["release"], None, listing).status_code == 400
    opened = [e["session"] for e in agg.seen if e["method"] == "POST" and e["session"]]
    assert opened, "the github session was opened for the list"
    closed = httpx.delete(
        agg.url + "/mcp",
        headers={"authorization": f"Bearer {TOKENS['release']}", "mcp-session-id": sid},
        timeout=10,
    )
    assert closed.status_code == 200
    assert any(e["method"] == "DELETE" and e["session"] == opened[-1] for e in agg.seen)
    assert post(TOKENS["release"], sid, listing).status_code == 404


async def test_run_derived_from_the_session(agg: Stack) -> None:
    for number in (8, 9):
        async with mcp_session(agg.url + "/mcp", TOKENS["release"]) as session:
            await session.call_tool("github__get_issue", {"number": number})
            await session.call_tool("linear__get_ticket", {"key": f"L-{number}"})
    steps = [s for s in await traces(agg, None) if s["tool"] in ("get_issue", "get_ticket")]
    runs = {s["run"] for s in steps}
    # One run per session, named after it, across both servers.
    assert len(runs) == 2 and all(r.startswith("mcp-") for r in runs)
    for run in runs:
        assert sorted(s["tool"] for s in steps if s["run"] == run) == ["get_issue", "get_ticket"]


async def test_a_run_opened_for_a_stock_client(agg: Stack) -> None:
    opened = httpx.post(
        agg.url + "/v1/fleet/runs",
        headers={"authorization": f"Bearer {TOKENS['release']}"},
        json={"input": {"why": "by hand"}},
        timeout=10,
    )
    assert opened.status_code == 201
    run = opened.json()["run"]["id"]
    assert run.startswith("release-") and opened.json()["headers"] == {"x-fleet-run-id": run}
    assert opened.json()["run"]["trigger"] == "manual"
    async with mcp_session(
        agg.url + "/mcp", TOKENS["release"], **{"x-fleet-run-id": run, "x-fleet-step": "2"}
    ) as session:
        await session.call_tool("linear__get_ticket", {"key": "L-3"})
    assert [(s["tool"], s["step"]) for s in await traces(agg, run)] == [("get_ticket", 2)]
    shown = httpx.get(
        f"{agg.url}/v1/fleet/runs/{run}",
        headers={"authorization": f"Bearer {TOKENS['release']}"},
        timeout=10,
    )
    assert shown.status_code == 200 and shown.json()["run"]["loop"] == "release"
    refused = httpx.post(
        agg.url + "/v1/fleet/runs",
        headers={"authorization": f"Bearer {TOKENS['triage/reviewer']}"},
        timeout=10,
    )
    assert refused.status_code == 403 and "sub-agent" in refused.json()["error"]["message"]


async def test_a_server_down_or_without_credential_is_left_out(
    agg: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = orjson.loads(agg.config_path.read_bytes())
    cfg["mcp_servers"]["jira"] = {
        "url": f"http://127.0.0.1:{free_port()}/mcp",
        "tools": {"read": ["get_*"]},
    }
    cfg["loops"]["release"]["mcp"]["jira"] = ["read"]
    agg.reconfigure(cfg)
    async with mcp_session(agg.url + "/mcp", TOKENS["release"]) as session:
        listed = await session.list_tools()
        names = {t.name for t in listed.tools}
        assert "github__get_issue" in names and "linear__get_ticket" in names
        assert listed.meta is not None and list(listed.meta["fleet/unavailable"]) == ["jira"]
        with pytest.raises(MCPError) as down:
            await session.call_tool("jira__get_issue", {"id": 1})
        assert down.value.error.data["code"] == "mcp_upstream_unavailable"  # type: ignore[index]
        monkeypatch.delenv("TEST_GITHUB_MCP_KEY")
        listed = await session.list_tools()
        assert not any(t.name.startswith("github__") for t in listed.tools)
        assert "set TEST_GITHUB_MCP_KEY" in listed.meta["fleet/unavailable"]["github"]  # type: ignore[index]
        with pytest.raises(MCPError) as missing:
            await session.call_tool("github__get_issue", {"number": 1})
        assert missing.value.error.data["code"] == "credentials_missing"  # type: ignore[index]
        ticket = await session.call_tool("linear__get_ticket", {"key": "L-5"})
        assert ticket.content[0].text == "ticket L-5: login page is slow"  # type: ignore[union-attr]


async def test_progress_and_a_servers_question_mid_call(agg: Stack) -> None:
    asked: list[str] = []
    progress: list[str | None] = []

    async def elicitation(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "release-3"})

    async def report(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with mcp_session(agg.url + "/mcp", TOKENS["triage"], elicitation=elicitation) as session:
        # The elicitation capability reached github when /mcp opened its session there.
        result = await session.call_tool("github__get_branch_choice", {})
        assert result.content[0].text == "reading branch release-3"  # type: ignore[union-attr]
        report_of = await session.call_tool(
            "github__get_report", {"parts": 2}, progress_callback=report
        )
        assert report_of.content[0].text == "report of 2 parts"  # type: ignore[union-attr]
    assert asked == ["Which branch?"]
    assert progress == ["part 1 of 2", "part 2 of 2"]


async def test_malformed_messages_get_a_reason_never_a_500(agg: Stack) -> None:
    def post(sid: str | None, body: bytes) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {TOKENS['release']}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        if sid:
            headers["mcp-session-id"] = sid
        return httpx.post(agg.url + "/mcp", content=body, headers=headers, timeout=10)

    weird_init = {"protocolVersion": ["x"], "capabilities": [], "clientInfo": "me"}
    init = post(
        None,
        orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": weird_init}),
    )
    assert init.json()["result"]["protocolVersion"] == "2025-11-25"
    sid = init.headers["mcp-session-id"]
    bad: list[Any] = [
        b"{not json",
        b"[]",
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": 7}},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "github__get_issue", "arguments": []},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "fleet_approval_result"},
        },
        {"jsonrpc": "2.0", "id": 5, "method": "prompts/get", "params": {"name": ["x"]}},
        {
            "jsonrpc": "2.0",
            "id": 6,
            "method": "resources/read",
            "params": {"uri": "fleet-mcp://nobody/x"},
        },
        {"jsonrpc": "2.0", "id": 7, "method": "tasks/get", "params": {"taskId": 5}},
        {"jsonrpc": "2.0", "id": 8, "method": "tasks/list", "params": {"cursor": "-1"}},
        {"jsonrpc": "2.0", "id": 9, "method": "tasks/result", "params": {"taskId": "x" * 5000}},
        {"jsonrpc": "2.0", "id": 10, "result": {}},
        {"jsonrpc": "2.0", "id": 11, "method": "initialize"},
        {"jsonrpc": "2.0", "id": 12, "method": "sampling/createMessage"},
        {
            "jsonrpc": "2.0",
            "id": 13,
            "method": "tools/call",
            "params": {"name": "github__" + "x" * 300},
        },
    ]
    for message in bad:
        body = message if isinstance(message, bytes) else orjson.dumps(message)
        answer = post(sid, body)
        assert answer.status_code in (200, 400), (message, answer.status_code, answer.text)
        error = answer.json()["error"]
        assert isinstance(error["code"], int) and len(error["message"]) > 10, message


async def test_an_idle_session_is_gone_and_swept(
    agg: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_MCP_SESSION_IDLE_S", "0.5")

    def post(sid: str | None, msg: dict[str, Any]) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {TOKENS['release']}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        if sid:
            headers["mcp-session-id"] = sid
        return httpx.post(agg.url + "/mcp", content=orjson.dumps(msg), headers=headers, timeout=10)

    def opened() -> str:
        init = post(None, {"jsonrpc": "2.0", "id": 1, "method": "initialize"})
        return str(init.headers["mcp-session-id"])

    used, left = opened(), opened()
    assert post(used, {"jsonrpc": "2.0", "id": 2, "method": "ping"}).status_code == 200
    time.sleep(0.7)
    assert post(used, {"jsonrpc": "2.0", "id": 3, "method": "ping"}).status_code == 404
    fresh = opened()  # a new session sweeps the idle rows of those nobody came back to
    store = open_store(f"sqlite:{agg.store_path}")
    try:
        rows = [
            await store.row_get("mcp_aggregate_sessions", s.split(".")[0])
            for s in (used, left, fresh)
        ]
    finally:
        await store.close()
    assert rows[:2] == [None, None] and rows[2] is not None and rows[2]["member"] == "release"
