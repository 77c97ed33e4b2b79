"""``fleetctl doctor``: every finding from a real gateway's store. Runs are opened and ended
through the runs API (httpx, each loop's own token), writes are real tool calls through the
gateway's MCP proxy to the fake github server (the official MCP client), spend is real model
calls through the gateway (the official openai client). Checks that need days to pass (a
missed heartbeat, a week-over-week jump) read the same store with the clock moved on."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import openai
from typer.testing import CliRunner

from fleet.doctor import Thresholds, diagnose, longest_gap_s
from fleet.load import load_fleet
from fleet.source import DirSource
from fleetctl.cli import app
from gateway.runs import records
from gateway.store import open_store
from tests.gateway.conftest import TOKENS as GW_TOKENS
from tests.gateway.conftest import (  # noqa: F401  (fixtures)
    GatewayFactory,
    gateway,
    provider,
)
from tests.mcp.conftest import (  # noqa: F401  (fixtures)
    TOKENS,
    Stack,
    github,
    mcp_session,
    stack,
)

FLEET = """fleet: testfleet
providers:
  p1: { base_url: https://p1.example/v1 }
models:
  main: { targets: [{ provider: p1, model: m-main }], deprecated: { after: 2020-01-31, use: backup } }
  backup: { targets: [{ provider: p1, model: m-backup }] }
mcp_servers:
  github:
    url: https://mcp.internal/github
    tools: { read: [get_*, list_*], write: [create_pr, comment], destructive: [merge_pr] }
"""

LOOP = """agent:
  name: {name}
  owner: {owner}
  stage: production
  model: {model}
  instructions: prompts/x@v1
  mcp_servers:
    github: {{ tools: [{tools}] }}
  subagents:
    - {{ name: reviewer, role: checker, model: backup, mcp_servers: {{ github: {{ tools: [read] }} }} }}
  trigger: {{ schedule: "0 * * * *" }}
"""


def write_fleet(root: Path, loops: dict[str, tuple[str, str, str]]) -> Path:
    (root / "agents").mkdir(parents=True)
    (root / "fleet.yaml").write_text(FLEET)
    for name, (owner, model, tools) in loops.items():
        text = LOOP.format(name=name, owner=owner, model=model, tools=tools)
        (root / "agents" / f"{name}.yaml").write_text(text)
    return root


def end(http: httpx.Client, token: str, run: str, **patch: object) -> None:
    auth = {"authorization": f"Bearer {token}"}
    assert http.put(f"/v1/fleet/runs/{run}", json={"trigger": "cron"}, headers=auth).is_success
    body = {"status": "ended", "checker_rounds": 1, **patch}
    assert http.patch(f"/v1/fleet/runs/{run}", json=body, headers=auth).is_success


async def comment(on: Stack, token: str, run: str) -> None:
    headers = {"x-fleet-run-id": run, "x-fleet-step": "1"}
    async with mcp_session(on.url + "/mcp/github", token, **headers) as session:
        await session.call_tool("comment", {"number": 1, "body": "triaged"})


def test_doctor_reports_each_finding_from_the_store(
    stack: Stack,  # noqa: F811
    tmp_path: Path,
) -> None:
    fleet = write_fleet(
        tmp_path / "fleet",
        {
            "release": ("team-a", "main", "read, write"),
            "triage": ("team-b", "backup", "read, comment"),
        },
    )
    with httpx.Client(base_url=stack.url) as http:
        for i in range(5):  # done every time, the checker passed, nothing written
            end(http, TOKENS["release"], f"rel-{i}", outcome="done")
        end(http, TOKENS["triage"], "tri-ok", outcome="done")
        asyncio.run(comment(stack, TOKENS["triage"], "tri-ok"))
        for i in range(3):
            end(http, TOKENS["triage"], f"tri-b{i}", outcome="budget_exceeded")
        end(http, TOKENS["triage"], "tri-ok2", outcome="done")
        asyncio.run(comment(stack, TOKENS["triage"], "tri-ok2"))
        auth = {"authorization": f"Bearer {TOKENS['triage']}"}
        http.put("/v1/fleet/runs/tri-wait", json={"trigger": "cron"}, headers=auth)
        http.patch("/v1/fleet/runs/tri-wait", json={"status": "awaiting_approval"}, headers=auth)
    store = f"sqlite:{stack.store_path}"
    args = ["doctor", str(fleet), "--store", store, "--stamp-runs", "5", "--approval-hours", "0"]
    result = CliRunner().invoke(app, [*args, "-o", "json"])
    assert result.exit_code == 1, result.output
    found = {(f["loop"], f["check"]): f for f in json.loads(result.stdout)["findings"]}
    assert set(found) == {
        ("release", "deprecated-model"),
        ("release", "no-useful-outcome"),
        ("release", "rubber-stamp-checker"),
        ("triage", "repeated-budget-exceeded"),
        ("triage", "approval-waiting"),
    }
    dep = found[("release", "deprecated-model")]
    assert (dep["owner"], dep["level"]) == ("team-a", "error")
    assert "its replacement is 'backup'" in dep["evidence"] and dep["action"] == "pin model: backup"
    assert (
        "the last 5 runs had no useful outcome (done x5; done without a successful write)"
        in (found[("release", "no-useful-outcome")]["evidence"])
    )
    assert (
        "3 runs ended budget_exceeded" in found[("triage", "repeated-budget-exceeded")]["evidence"]
    )
    assert "run 'tri-wait' has waited" in found[("triage", "approval-waiting")]["evidence"]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 1
    assert (
        "error: release (team-a): rubber-stamp-checker: the checker passed each of the last 5"
        in (text.stdout)
    )
    assert text.stdout.splitlines()[-1] == "5 findings (3 errors) in 2 of 2 loops"
    # A successful write makes the same outcomes useful: only the model is left.
    with httpx.Client(base_url=stack.url) as http:
        end(http, TOKENS["release"], "rel-5", outcome="done")
    asyncio.run(_write_as_release(stack, "rel-5"))
    again = json.loads(CliRunner().invoke(app, [*args, "-o", "json"]).stdout)["findings"]
    assert {(f["loop"], f["check"]) for f in again if f["loop"] == "release"} == {
        ("release", "deprecated-model")
    }


async def _write_as_release(on: Stack, run: str) -> None:
    headers = {"x-fleet-run-id": run, "x-fleet-step": "1"}
    async with mcp_session(on.url + "/mcp/github", TOKENS["release"], **headers) as session:
        await session.call_tool("create_pr", {"title": "release notes"})


def test_heartbeat_and_spend_jump_with_the_clock_moved_on(
    gateway: GatewayFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = f"sqlite:{tmp_path / 'gw.sqlite3'}"
    fleet_dir = write_fleet(
        tmp_path / "fleet",
        {"alpha": ("team-a", "backup", "read"), "beta": ("team-b", "backup", "read")},
    )
    with gateway(url) as (base, _, _), httpx.Client(base_url=base) as http:
        end(http, GW_TOKENS["alpha"], "a1", outcome="done")
        end(http, GW_TOKENS["beta"], "b1", outcome="done")
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=GW_TOKENS["alpha"], max_retries=0)

        def call(i: int) -> None:
            client.chat.completions.create(
                model="main",
                messages=[{"role": "user", "content": f"call {i}"}],
                extra_headers={"x-fleet-run-id": "a1"},
            )

        call(0)
        time.sleep(0.05)
        split = time.time()
        time.sleep(0.05)
        for i in range(1, 4):
            call(i)

    async def read() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        st = open_store(url, create=False)
        try:
            return await records.page(st, None, 0, 1000), await st.query_traces(limit=1000)
        finally:
            await st.close()

    runs, calls = asyncio.run(read())
    loaded, _ = load_fleet(DirSource(fleet_dir))
    assert loaded is not None
    agents = [la.agent for la in loaded.agents]
    # A week after the split: the first call is last week's spend, the other three this week's.
    later = split + 7 * 86400
    found = diagnose(
        loaded.fleet, agents, runs, calls, now=later, thresholds=Thresholds(spend_floor_usd=0)
    )
    got = {(f.loop, f.check, f.level) for f in found}
    assert got == {
        ("alpha", "missed-heartbeat", "error"),
        ("beta", "missed-heartbeat", "error"),
        ("alpha", "spend-jump", "warning"),
    }
    jump = next(f for f in found if f.check == "spend-jump")
    assert jump.evidence.endswith("(3.0x)") and jump.owner == "team-a"
    # Within twice the hourly schedule's gap there is nothing to say.
    assert diagnose(loaded.fleet, agents, runs, calls, now=time.time() + 3600) == []
    # Records that begin an hour back cannot show a two-hour silence of a loop with no run.
    alpha_only = [r for r in runs if r["loop"] == "alpha"]
    later = time.time() + 3 * 3600
    shallow = diagnose(loaded.fleet, agents, alpha_only, [], now=later, since=later - 3600)
    deep = diagnose(loaded.fleet, agents, alpha_only, [], now=later, since=later - 86400)
    assert [(f.loop, f.check) for f in shallow] == [("alpha", "missed-heartbeat")]
    assert [(f.loop, f.check) for f in deep] == [
        ("alpha", "missed-heartbeat"),
        ("beta", "missed-heartbeat"),
    ]
    assert deep[1].evidence.startswith("no run in the records read")


def test_longest_gap_of_a_schedule() -> None:
    assert longest_gap_s("0 * * * *", "x") == 3600
    assert longest_gap_s("0 6 * * 1-5", "x") == 3 * 86400  # Friday 06:00 to Monday 06:00
    assert longest_gap_s("H H 1 * *", "x") == 31 * 86400
    assert longest_gap_s("not a schedule", "x") is None


def test_a_new_store_says_nothing_of_loops_that_have_not_run_yet() -> None:
    """The records reach back only to their oldest run: a store begun an hour ago (or with no
    runs at all) is no evidence that a daily loop missed its heartbeat; a month of them is."""
    loaded, _ = load_fleet(DirSource(Path(__file__).resolve().parents[2] / "examples/northwind"))
    assert loaded is not None
    agents = [la.agent for la in loaded.agents]
    now = time.time()

    def silent(runs: list[dict[str, object]], since: float | None) -> set[str]:
        found = diagnose(loaded.fleet, agents, runs, [], now=now, since=since)
        return {f.loop for f in found if f.check == "missed-heartbeat"}

    ran = {"loop": "bug-report-triage", "run": "r1", "outcome": "done"}
    assert silent([], None) == set()
    assert silent([], now - 30 * 86400) == set()
    assert silent([{**ran, "started": now - 3600}], now - 14 * 86400) == set()
    month = silent([{**ran, "started": now - 30 * 86400}], now - 30 * 86400)
    assert "flaky-test-hunter" in month  # daily, never ran in a month of records
