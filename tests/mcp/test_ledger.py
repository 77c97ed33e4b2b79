"""The durable ledger on its own: approval states, expiry, the one-winner claim,
idempotency claims; and what the gateway does with a key a killed process left running."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from gateway.mcp.ledger import Ledger
from tests.mcp.conftest import TOKENS, Stack, mcp_session


def request(ledger: Ledger, ttl_s: float) -> dict[str, Any]:
    return ledger.create_approval(
        loop="release",
        member="release",
        run="r1",
        step=4,
        server="github",
        tool="merge_pr",
        tool_class="destructive",
        arguments={"number": 1},
        verdicts=[],
        idempotency_key=None,
        ttl_s=ttl_s,
    )


@pytest.mark.parametrize(
    ("ttl_s", "decision", "won", "state"),
    [
        (3600, "approved", True, "approved"),
        (3600, "denied", True, "denied"),
        (0, "approved", False, "expired"),
        (0, "denied", False, "expired"),
    ],
)
def test_decisions_and_expiry(
    tmp_path: Path, ttl_s: float, decision: str, won: bool, state: str
) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    row = request(ledger, ttl_s)
    assert ledger.decide(row["id"], decision, "alice", None) is won
    assert ledger.decide(row["id"], "approved", "bob", None) is False  # one winner, ever
    assert ledger.approval(row["id"])["state"] == state  # type: ignore[index]
    ledger.close()
    reopened = Ledger(tmp_path / "l.sqlite3")
    assert reopened.approval(row["id"])["state"] == state  # type: ignore[index]
    reopened.close()


def test_idempotency_claims(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    assert ledger.begin("k", "loop", "github", "create_pr").state == "new"
    assert ledger.begin("k", "loop", "github", "create_pr").state == "running"
    ledger.finish("k", {"content": [], "isError": False})
    claim = ledger.begin("k", "loop", "github", "create_pr")
    assert (claim.state, claim.result) == ("done", {"content": [], "isError": False})
    ledger.forget("k")  # only a running key can be forgotten
    assert ledger.begin("k", "loop", "github", "create_pr").state == "done"
    ledger.close()


async def test_key_left_running_by_a_killed_gateway_is_not_run_again(stack: Stack) -> None:
    key = "open-pr-after-crash"
    ledger = Ledger(stack.store_path)
    # What a gateway killed mid-call leaves behind: the claim, no result.
    ledger.begin(
        hashlib.sha256(f"release\0{key}".encode()).hexdigest(), "release", "github", "create_pr"
    )
    ledger.close()
    async with mcp_session(
        stack.url + "/mcp/github", TOKENS["release"], **{"idempotency-key": key}
    ) as session:
        with pytest.raises(MCPError) as info:
            await session.call_tool("create_pr", {"title": "t"})
    assert "its outcome is unknown, so it is not run again" in info.value.error.message
    assert stack.calls("create_pr") == []


async def test_expired_request_tells_the_run(stack: Stack, tmp_path: Path) -> None:
    ledger = Ledger(stack.store_path)
    row = request(ledger, 0)
    ledger.close()
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        fetched = await session.call_tool("fleet_approval_result", {"approval_id": row["id"]})
    assert fetched.is_error
    assert f"approval {row['id']} for github.merge_pr was expired" in fetched.content[0].text  # type: ignore[union-attr]
