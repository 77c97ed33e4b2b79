"""Issue 16 on the MCP side, one test per defect, over a real loopback gateway in
front of the fake github (official SDK): no method without a grant on the server
(item 7), sessions bound to their owner (7), only tool names the server lists and
look-alikes of destructive names classified destructive (7), idempotency keys
scoped by identity, server and tool (7), the server's credential never passed
back (8), headers checked before anything is forwarded or recorded (4), no call to a
server whose credential is missing (10), and no 500 for any bad request (5), with a
fixed-seed fuzz run."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from mcp.shared.exceptions import MCPError

from bench import fuzz_mcp
from fleet.gwconfig import load
from gateway.mcp import grants
from tests.mcp import conftest as mcp_fixtures
from tests.mcp.conftest import APPROVER, GITHUB_KEY, TOKENS, Stack, config, mcp_session, traces

# The MCP stack's fixtures, registered here under their own names (tests/mcp is not a parent).
globals().update({f: getattr(mcp_fixtures, f) for f in ("github", "stack", "leaky_stack")})

ACCEPT = "application/json, text/event-stream"
INIT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "loop", "version": "1"},
}
SESSION_NOT_FOUND = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": -32600, "message": "Session not found"},
}


def headers(token: str, **extra: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "accept": ACCEPT,
        "content-type": "application/json",
        **extra,
    }


def rpc(
    stack: Stack,
    token: str,
    payload: Any,
    *,
    http: str = "POST",
    raw: bytes | None = None,
    **extra: str,
) -> httpx.Response:
    body = raw if raw is not None else (json.dumps(payload).encode() if http == "POST" else None)
    return httpx.request(
        http, stack.url + "/mcp/github", headers=headers(token, **extra), content=body, timeout=10
    )


def open_session(stack: Stack, token: str) -> str:
    """initialize + initialized over plain HTTP; the session id the gateway answered with."""
    r = rpc(stack, token, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT})
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    done = rpc(
        stack,
        token,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        **{"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"},
    )
    assert done.status_code == 202, done.text
    return sid


def answer(r: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or SSE answer."""
    text = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        return orjson.loads(data[-1])  # type: ignore[no-any-return]
    return orjson.loads(text)  # type: ignore[no-any-return]


def call(
    stack: Stack, token: str, sid: str, tool: str, args: dict[str, Any], **extra: str
) -> dict[str, Any]:
    r = rpc(
        stack,
        token,
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": tool, "arguments": args},
        },
        **{"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18", **extra},
    )
    assert r.status_code == 200, r.text
    return answer(r)


# ---------------------------------------------------------------- item 7: a grant for every method

NO_GRANT = (
    "loop 'outsider' has no grant on MCP server 'github'; add it to agent.mcp_servers.github.tools"
)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("initialize", INIT),
        ("resources/list", {}),
        ("prompts/list", {}),
        ("ping", None),
        ("tools/list", {}),
        ("notifications/initialized", None),
    ],
)
def test_no_method_reaches_a_server_without_a_grant_on_it(
    stack: Stack, method: str, params: Any
) -> None:
    before = len(stack.seen)
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if not method.startswith("notifications/"):
        msg["id"] = 3
    if params is not None:
        msg["params"] = params
    r = rpc(stack, TOKENS["outsider"], msg)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["message"] == NO_GRANT
    assert error["data"] == {"grant": "github"}
    assert r.json()["id"] == msg.get("id")
    assert stack.seen[before:] == []  # nothing forwarded, so no credential was spent


@pytest.mark.parametrize("http", ["GET", "DELETE"])
def test_no_stream_or_delete_without_a_grant(stack: Stack, http: str) -> None:
    sid = open_session(stack, TOKENS["triage"])
    before = len(stack.seen)
    r = rpc(stack, TOKENS["outsider"], None, http=http, **{"mcp-session-id": sid})
    assert r.status_code == 403 and r.json()["error"]["message"] == NO_GRANT
    assert stack.seen[before:] == []


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


async def test_the_sdk_client_gets_the_refusal_as_an_error(stack: Stack) -> None:
    with pytest.raises(BaseException) as info:  # the SDK wraps it in exception groups
        async with mcp_session(stack.url + "/mcp/github", TOKENS["outsider"]):
            pass
    errors = [e for e in leaves(info.value) if isinstance(e, MCPError)]
    assert [e.error.message for e in errors] == [NO_GRANT]


# ---------------------------------------------------------------- item 7: sessions have owners


@pytest.mark.parametrize("intruder", ["release", "triage/reviewer"])
def test_a_session_answers_only_the_identity_that_opened_it(stack: Stack, intruder: str) -> None:
    sid = open_session(stack, TOKENS["triage"])
    before = len(stack.seen)
    extra = {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    attempts = [
        rpc(stack, TOKENS[intruder], None, http="DELETE", **extra),
        rpc(stack, TOKENS[intruder], None, http="GET", **extra),
        rpc(
            stack,
            TOKENS[intruder],
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "get_issue", "arguments": {"number": 1}},
            },
            **extra,
        ),
        rpc(stack, TOKENS[intruder], {"jsonrpc": "2.0", "id": 3, "method": "ping"}, **extra),
    ]
    for r in attempts:  # answered exactly as the server answers a session it does not know
        assert (r.status_code, r.json()) == (404, SESSION_NOT_FOUND)
    assert stack.seen[before:] == []
    # The owner's session is intact.
    got = call(stack, TOKENS["triage"], sid, "get_issue", {"number": 4})
    assert got["result"]["content"][0]["text"] == "issue 4: the build is red"


@pytest.mark.parametrize(
    "made_up",
    [
        b"0123456789abcdef0123456789abcdef",
        b"0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAA",
        b".",
        b"x.",
        b"\xb9.\xf9\xb9",  # not ASCII (the fuzz found it answering 500)
    ],
)
def test_a_made_up_session_id_is_not_forwarded(stack: Stack, made_up: bytes) -> None:
    before = len(stack.seen)
    r = httpx.post(
        stack.url + "/mcp/github",
        headers=[*headers(TOKENS["triage"]).items(), ("mcp-session-id", made_up)],  # type: ignore[list-item]
        content=b'{"jsonrpc":"2.0","id":3,"method":"ping"}',
    )
    assert (r.status_code, r.json()) == (404, SESSION_NOT_FOUND)
    assert stack.seen[before:] == []


# ---------------------------------------------------------------- item 7: tool names

LOOK_ALIKES = [
    "Merge_pr",
    " merge_pr",
    "merge_pr ",
    "m\u0435rge_pr",  # a Cyrillic е
    "github.merge_pr",
    "merge\u200b_pr",  # a zero-width space
    "\uff4derge_pr",  # a fullwidth m
    "MERGE_PR",
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alikes_of_a_destructive_name_are_destructive(name: str) -> None:
    cfg = load(config("http://127.0.0.1:9"))
    assert grants.tool_class(cfg, "github", name) == "destructive"


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_a_tool_the_server_does_not_list_is_refused(stack: Stack, name: str) -> None:
    cfg = config(stack.github.url)
    cfg["loops"]["release"]["mcp"]["github"] = ["read", "*_pr", "Merge_*", "MERGE_*", "*"]
    stack.reconfigure(cfg)
    sid = open_session(stack, TOKENS["release"])
    before = len(stack.seen)
    got = call(stack, TOKENS["release"], sid, name, {"number": 1})
    assert got["error"]["code"] == -32602
    assert got["error"]["message"].startswith(
        f"MCP server 'github' lists no tool {name!r} in tools/list"
    )
    assert "did you mean 'merge_pr'?" in got["error"]["message"]
    forwarded = [s["body"] for s in stack.seen[before:] if b'"tools/call"' in s["body"]]
    assert forwarded == []
    assert stack.calls("merge_pr") == []
    pending = httpx.get(
        stack.url + "/approvals", headers={"authorization": f"Bearer {APPROVER}"}
    ).json()
    assert pending["approvals"] == []


async def test_a_listed_tool_is_called_without_listing_first(stack: Stack) -> None:
    """The gateway lists the server's tools itself when it has not seen them yet."""
    async with mcp_session(stack.url + "/mcp/github", TOKENS["triage"]) as session:
        result = await session.call_tool("get_issue", {"number": 2})
    assert result.content[0].text == "issue 2: the build is red"  # type: ignore[union-attr]


# ---------------------------------------------------------------- item 7: idempotency scopes


def with_mirror(stack: Stack) -> None:
    """A second catalog server ('mirror') in front of the same fake github."""
    cfg = config(stack.github.url)
    cfg["mcp_servers"]["mirror"] = cfg["mcp_servers"]["github"]
    for loop in cfg["loops"].values():
        if "github" in loop["mcp"]:
            loop["mcp"]["mirror"] = loop["mcp"]["github"]
    cfg["loops"]["triage"]["subagents"]["reviewer"]["mcp"]["mirror"] = ["read"]
    stack.reconfigure(cfg)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        # A read-only checker reusing its loop's key for a write.
        (("triage", "github", "comment"), ("triage/reviewer", "github", "get_issue")),
        # The same identity, another tool.
        (("triage", "github", "comment"), ("triage", "github", "get_issue")),
        # The same identity and tool, another server.
        (("triage", "github", "get_issue"), ("triage", "mirror", "get_issue")),
    ],
)
async def test_an_idempotency_key_replays_only_its_own_identity_server_and_tool(
    stack: Stack, first: tuple[str, str, str], then: tuple[str, str, str]
) -> None:
    with_mirror(stack)
    args = {"comment": {"number": 1, "body": "on it"}, "get_issue": {"number": 1}}
    meta = {"fleet/idempotency-key": "run-1:4:0"}
    who, server, tool = first
    async with mcp_session(f"{stack.url}/mcp/{server}", TOKENS[who]) as session:
        await session.call_tool(tool, args[tool], meta=meta)
    who, server, tool = then
    async with mcp_session(f"{stack.url}/mcp/{server}", TOKENS[who]) as session:
        got = await session.call_tool(tool, {"number": 2}, meta=meta)
    assert got.content[0].text == "issue 2: the build is red"  # type: ignore[union-attr]


# ---------------------------------------------------------------- item 8: credentials


async def test_the_server_credential_never_reaches_the_loop(leaky_stack: Stack) -> None:
    stack = leaky_stack
    seen: list[Any] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with mcp_session(
        stack.url + "/mcp/github", TOKENS["release"], **{"x-fleet-run-id": "run-leak"}
    ) as session:
        seen.append(await session.call_tool("get_debug", {}))
        seen.append(await session.call_tool("get_debug_json", {}))
        seen.append(await session.call_tool("get_debug_progress", {}, progress_callback=progress))
        seen.append(await session.call_tool("get_debug_failure", {}))
        seen.append(await session.read_resource("debug://credential"))
        seen.append(await session.get_prompt("debug_prompt"))
        pending = await session.call_tool("delete_debug", {"name": "old"})
        approval_id = pending.meta["fleet/approval"]["id"]  # type: ignore[index]
        decided = httpx.post(
            f"{stack.url}/approvals/{approval_id}/approve",
            headers={"authorization": f"Bearer {APPROVER}"},
            timeout=10,
        )
        seen.append(decided.text)
        seen.append(await session.call_tool("fleet_approval_result", {"approval_id": approval_id}))
    shown = repr(seen)
    assert GITHUB_KEY not in shown
    assert shown.count("[REDACTED:credential]") >= 9
    assert "connecting with [REDACTED:credential]" in shown
    assert 'token \\\\"[REDACTED:credential]\\\\"' in shown or 'token "[REDACTED' in shown
    listed = httpx.get(
        stack.url + "/approvals?state=all", headers={"authorization": f"Bearer {APPROVER}"}
    )
    assert GITHUB_KEY not in listed.text
    assert GITHUB_KEY not in repr(await traces(stack, None))


# ---------------------------------------------------------------- item 5: no 500s


def deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = {"a": value}
    return value


def tools_call(params: Any, **msg: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params, **msg}


BAD_REQUESTS: list[tuple[str, Any]] = [
    ("params a list", tools_call([1])),
    ("params a string", tools_call("get_issue")),
    ("_meta a list", tools_call({"name": "get_issue", "arguments": {"number": 1}, "_meta": [1]})),
    ("_meta a string", tools_call({"name": "comment", "arguments": {}, "_meta": "k"})),
    (
        "a key that is not a string",
        tools_call({"name": "comment", "arguments": {}, "_meta": {"fleet/idempotency-key": [1]}}),
    ),
    ("name a number", tools_call({"name": 5, "arguments": {}})),
    ("arguments a list", tools_call({"name": "get_issue", "arguments": [1]})),
    (
        "approval result with a list",
        tools_call({"name": "fleet_approval_result", "arguments": [1]}),
    ),
    (
        "approval result with a string",
        tools_call({"name": "fleet_approval_result", "arguments": "ap_1"}),
    ),
    (
        "approval id an object",
        tools_call({"name": "fleet_approval_result", "arguments": {"approval_id": {"a": 1}}}),
    ),
    ("arguments 300 deep", tools_call({"name": "comment", "arguments": deep(300)})),
    ("id an object", tools_call({"name": "get_issue", "arguments": {}}, id={"a": 1})),
]
# Refused (without a 500) before too: kept as guards.
REFUSED_BEFORE: list[tuple[str, Any]] = [
    ("name a number", tools_call({"name": 5, "arguments": {}})),
    ("arguments a list", tools_call({"name": "get_issue", "arguments": [1]})),
    (
        "tools/list params a list",
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]},
    ),
    ("method a number", {"jsonrpc": "2.0", "id": 1, "method": 5}),
    ("an empty batch", []),
    ("a batch of junk", [1, "x", None]),
    ("a number", 5),
]


@pytest.mark.parametrize(("what", "payload"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_a_bad_request_gets_a_jsonrpc_error_not_a_500(
    stack: Stack, what: str, payload: Any
) -> None:
    bad_request(stack, payload)


@pytest.mark.parametrize(("what", "payload"), REFUSED_BEFORE, ids=[b[0] for b in REFUSED_BEFORE])
def test_bad_requests_refused_before_still_are(stack: Stack, what: str, payload: Any) -> None:
    bad_request(stack, payload)


def bad_request(stack: Stack, payload: Any) -> None:
    sid = open_session(stack, TOKENS["release"])
    r = rpc(
        stack,
        TOKENS["release"],
        payload,
        **{"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18", "x-fleet-run-id": "r"},
    )
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text
    assert answer(r)["error"]["message"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-fleet-step", "\u00b2"),
        ("x-fleet-step", "99999999999999999999"),
        ("x-fleet-step", "-1"),
        ("x-fleet-run-id", "run-\u00e9"),  # printable, but not ASCII: was recorded as sent
        ("idempotency-key", "key-\u00ff"),
    ],
)
def test_a_bad_header_gets_an_error_not_a_500(stack: Stack, header: str, value: str) -> None:
    sid = open_session(stack, TOKENS["release"])
    r = httpx.post(
        stack.url + "/mcp/github",
        headers=[
            *headers(TOKENS["release"], **{"mcp-session-id": sid}).items(),
            (header, value.encode("latin-1")),  # type: ignore[list-item]
        ],
        content=orjson.dumps(tools_call({"name": "create_pr", "arguments": {"title": "x"}})),
    )
    assert r.status_code == 400, r.text
    assert header in r.json()["error"]["message"]
    assert stack.calls("create_pr") == []


@pytest.mark.parametrize(
    ("what", "body"),
    [("not UTF-8", b'{"jsonrpc":"2.0","id":1,"method":"\xff"}'), ("not JSON", b"{")],
)
def test_an_unreadable_body_is_still_a_parse_error(stack: Stack, what: str, body: bytes) -> None:
    r = rpc(stack, TOKENS["release"], None, raw=body)
    assert (r.status_code, r.json()["error"]["code"]) == (400, -32700)


def test_a_body_over_8_mib_is_413(stack: Stack) -> None:
    big = orjson.dumps(tools_call({"name": "comment", "arguments": {"body": "x" * (9 << 20)}}))
    r = rpc(stack, TOKENS["release"], None, raw=big)
    assert r.status_code == 413
    assert r.json()["error"]["message"] == "request body over 8 MiB; send less"


def test_a_body_declared_over_8_mib_is_413_before_it_is_sent(stack: Stack) -> None:
    """The Content-Length is read first: nothing is buffered for a body that cannot fit."""
    where = urlsplit(stack.url)
    head = (
        f"POST /mcp/github HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKENS['release']}"
        f"\r\ncontent-type: application/json\r\ncontent-length: {9 << 20}\r\n\r\n"
    )
    with socket.create_connection((where.hostname, where.port), timeout=5) as s:
        s.sendall(head.encode())
        got = b""
        while not got.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"HTTP/1.1 413"), got[:200]
    assert b"request body over 8 MiB; send less" in got


def test_a_server_whose_credential_is_missing_is_not_called(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 10: a missing MCP_* credential was sent upstream as no auth at all."""
    monkeypatch.delenv("TEST_GITHUB_MCP_KEY")
    before = len(stack.seen)
    r = rpc(
        stack,
        TOKENS["release"],
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT},
    )
    assert r.status_code == 503, r.text
    assert r.json()["id"] == 1 and "TEST_GITHUB_MCP_KEY" in r.json()["error"]["message"]
    assert r.json()["error"]["data"] == {
        "code": "credentials_missing",
        "env": "TEST_GITHUB_MCP_KEY",
    }
    assert stack.seen[before:] == []


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("last-event-id", b"e" * 2000),
        ("mcp-protocol-version", b"2025-06-18\xe9"),
        ("accept", b"application/json, text/event-stream, \xff/\xfe"),
    ],
)
def test_a_header_passed_on_to_the_server_is_printable_ascii_and_bounded(
    stack: Stack, header: str, value: bytes
) -> None:
    """Issue 16 item 4: the server gets no header value the gateway could not have sent."""
    r = httpx.post(
        stack.url + "/mcp/github",
        headers=[
            *((k, v) for k, v in headers(TOKENS["release"]).items() if k != header),
            (header, value),  # type: ignore[list-item]
        ],
        content=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}),
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["data"] == {"header": header}
    assert header in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("http", "path", "body"),
    [
        ("POST", "/approvals/{id}/deny", b'{"reason": [1]}'),
        ("POST", "/approvals/{id}/deny", b"[1]"),  # 400 before too
        ("POST", "/approvals/{id}/deny", b'{"reason": "x"'),  # 400 before too
        ("GET", "/approvals?state=%ff%fe", b""),
        ("POST", "/approvals/{id}/deny", b"x" * (9 << 20)),
    ],
)
async def test_the_approvals_api_answers_bad_input_with_4xx(
    stack: Stack, http: str, path: str, body: bytes
) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        pending = await session.call_tool("merge_pr", {"number": 3})
    approval_id = pending.meta["fleet/approval"]["id"]  # type: ignore[index]
    r = httpx.request(
        http,
        stack.url + path.format(id=approval_id),
        headers={"authorization": f"Bearer {APPROVER}"},
        content=body,
        timeout=10,
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["message"]


# ---------------------------------------------------------------- item 5: fuzz


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=fuzz_mcp.cases())
def test_fuzz_no_5xx_no_traceback(leaky_stack: Stack, case: fuzz_mcp.Case) -> None:
    target = fuzz_mcp.target_for(leaky_stack.url)
    status, body = target.send(case)
    assert fuzz_mcp.problem(status, body) is None, (case, status, body[:500])


def test_an_answer_of_one_event_is_sent_as_json(stack: Stack) -> None:
    """The streamable HTTP transport lets a server answer a request with JSON; an SSE answer
    that is the result alone reaches the caller as JSON, whole."""
    sid = open_session(stack, TOKENS["triage"])
    extra = {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    listed = rpc(
        stack, TOKENS["triage"], {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, **extra
    )
    tool = answer(listed)["result"]["tools"][0]
    payload = {"name": tool["name"], "arguments": {"number": 1}}
    r = rpc(
        stack,
        TOKENS["triage"],
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": payload},
        **extra,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    got = r.json()
    assert got["id"] == 3 and isinstance(got["result"]["content"], list)
