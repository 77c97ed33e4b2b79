"""Values the gateway reflects into headers and documents: the
client's ``x-request-id`` and the Host it used. A value that could break out of a header
or out of the ``WWW-Authenticate`` quoting is never echoed: the request id is replaced by
one the gateway makes, the Host by the address the gateway listens on."""

from __future__ import annotations

import httpx2
import pytest

from tests.mcp import conftest as mcp_fixtures
from tests.mcp.conftest import Stack

# The MCP stack's fixtures, registered here under their own names (tests/mcp is not a parent).
globals().update({f: getattr(mcp_fixtures, f) for f in ("github", "stack")})

HOSTILE_IDS = ["a b", "x" * 129, "é", "a\tb"]


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_request_id_not_echoed_when_unsafe(stack: Stack, value: str) -> None:
    answer = httpx2.get(
        stack.url + "/healthz", headers={"x-request-id": value.encode()}, timeout=10
    )
    made = answer.headers["x-request-id"]
    assert made != value and made.startswith("req_") and len(made) == 28


@pytest.mark.parametrize("host", ['evil.example" error="x', "a b", ""])
def test_challenge_does_not_quote_a_hostile_host(stack: Stack, host: str) -> None:
    answer = httpx2.post(
        stack.url + "/mcp/github",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"host": host, "accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.count('"') == 2 and "evil" not in challenge and " b" not in challenge
    meta = httpx2.get(
        stack.url + "/.well-known/oauth-protected-resource", headers={"host": host}, timeout=10
    )
    assert meta.json()["resource"].startswith("http://127.0.0.1:")
