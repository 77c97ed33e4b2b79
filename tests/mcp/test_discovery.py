"""MCP auth discovery, the unreachable server and the MCP series in /metrics, through the
official mcp client and httpx2 over loopback: a 401 names its RFC 9728 metadata (read with the mcp package's own parser), the metadata says no
authorization server exists, an approver token is named as such, a server that is down
answers 502 ``mcp_upstream_unavailable``, and tool calls, denials and approvals are counted."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth
from mcp.shared.exceptions import MCPError
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.mcp.conftest import APPROVER, TOKENS, Stack, mcp_session

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
ACCEPT = {"accept": "application/json, text/event-stream"}


def post(stack: Stack, path: str, token: str | None, body: Any = INIT) -> httpx2.Response:
    headers = {**ACCEPT, **({"authorization": f"Bearer {token}"} if token else {})}
    return httpx2.post(stack.url + path, json=body, headers=headers, timeout=10)


def test_401_names_protected_resource_metadata(stack: Stack) -> None:
    missing = post(stack, "/mcp/github", None)
    unknown = post(stack, "/mcp/github", "tok-nobody")
    assert missing.status_code == unknown.status_code == 401
    url = extract_resource_metadata_from_www_auth(missing)
    assert url == stack.url + "/.well-known/oauth-protected-resource/mcp/github"
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    assert "error=" not in missing.headers["www-authenticate"]
    assert "issued by the fleet's operator" in missing.json()["error"]["message"]
    assert missing.json()["error"]["data"] == {"code": "missing_token"}
    meta = httpx2.get(url, timeout=10)
    assert meta.status_code == 200
    doc = meta.json()
    assert doc["resource"] == stack.url + "/mcp/github"
    assert doc["authorization_servers"] == []
    assert doc["bearer_methods_supported"] == ["header"]
    assert "Kubernetes Secret" in doc["fleet_token_issuer"]


def test_metadata_for_the_mcp_root_and_unknown_servers(stack: Stack) -> None:
    root = httpx2.get(stack.url + "/.well-known/oauth-protected-resource", timeout=10)
    assert root.json()["resource"] == stack.url + "/mcp"
    nowhere = httpx2.get(stack.url + "/.well-known/oauth-protected-resource/mcp/gitlab", timeout=10)
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    # A 401 on a server not in the catalog points at the root's metadata, not at a 404.
    refused = post(stack, "/mcp/gitlab", None)
    assert extract_resource_metadata_from_www_auth(refused) == (
        stack.url + "/.well-known/oauth-protected-resource/mcp"
    )


def test_approver_token_is_named_not_unknown(stack: Stack) -> None:
    answer = post(stack, "/mcp/github", APPROVER)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["data"] == {"code": "approver_token"}
    assert "an approver token (approver 'alice'), not a loop token" in error["message"]
    assert "unknown or revoked" not in error["message"]


async def test_the_sdk_client_reports_the_401(stack: Stack) -> None:
    """The official client with a wrong token: the refusal is a JSON-RPC error, so the SDK
    shows the gateway's reason, not "Server returned an error response"."""
    with pytest.raises(BaseException) as info:  # the SDK raises it inside task groups
        async with mcp_session(stack.url + "/mcp/github", "tok-nobody"):
            pass
    errors: list[BaseException] = [info.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    error = errors[-1]
    assert isinstance(error, MCPError)
    assert error.error.message.startswith("unknown or revoked token")
    assert "issued by the fleet's operator" in error.error.message
    assert error.error.data == {"code": "invalid_token"}


async def test_unreachable_server_is_502_mcp_upstream_unavailable(stack: Stack) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["triage"]) as session:
        stack.github.__exit__(None, None, None)
        with pytest.raises(MCPError) as info:
            await session.call_tool("get_issue", {"number": 1})
    assert info.value.error.data == {"code": "mcp_upstream_unavailable", "server": "github"}
    raw = post(stack, "/mcp/github", TOKENS["triage"])
    assert raw.status_code == 502
    assert raw.json()["error"]["data"]["code"] == "mcp_upstream_unavailable"


async def test_mcp_series_in_metrics(stack: Stack) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["triage"]) as session:
        await session.list_tools()
        await session.call_tool("get_issue", {"number": 1})
        with pytest.raises(MCPError):
            await session.call_tool("create_pr", {"title": "x"})
        with pytest.raises(MCPError):
            await session.call_tool("made_up_tool_name", {})
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        await session.list_tools()
        first = await session.call_tool("merge_pr", {"number": 1})
        await session.call_tool("merge_pr", {"number": 2})
    approval_id = first.meta["fleet/approval"]["id"]  # type: ignore[index]
    decided = httpx2.post(
        f"{stack.url}/approvals/{approval_id}/deny",
        headers={"authorization": f"Bearer {APPROVER}"},
        timeout=10,
    )
    assert decided.status_code == 200
    text = httpx2.get(
        stack.url + "/metrics", headers={"accept": "application/openmetrics-text"}, timeout=10
    ).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    calls = "fleet_gateway_mcp_tool_calls_total"
    assert value(calls, server="github", tool="get_issue", tool_class="read", outcome="ok") == 1
    assert (
        value(calls, server="github", tool="create_pr", tool_class="write", outcome="denied") == 1
    )
    assert (
        value(calls, server="github", tool="merge_pr", tool_class="destructive", outcome="pending")
        == 2
    )
    # A name the server never listed is no label: callers cannot mint series.
    assert not any("made_up_tool_name" in str(key) for key in samples)
    unlisted = [v for (name, labels), v in samples.items() if ("tool", "(unlisted)") in labels]
    assert unlisted == [1]
    denials = "fleet_gateway_mcp_denials_total"
    assert value(denials, server="github", reason="grant") == 2
    assert value("fleet_gateway_mcp_approvals_pending", server="github") == 1
    assert value("fleet_gateway_mcp_approvals_decided_total", server="github", decision="deny") == 1
