"""Inventory queries over a fixed five-loop fleet: ls, who-touches, owners."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.inventory import loop_rows, owners, who_touches
from fleet.load import load_fleet
from fleet.source import DirSource
from fleetctl.cli import app

FIXTURE = Path(__file__).parent / "fleet"
loaded, _ = load_fleet(DirSource(FIXTURE))
assert loaded is not None
FLEET = loaded.fleet
AGENTS = [a.agent for a in loaded.agents]


def test_ls_rows() -> None:
    rows = {r.loop: r for r in loop_rows(FLEET, AGENTS)}
    assert sorted(rows) == [
        "bug-report-triage",
        "ci-failure-triage",
        "cost-report",
        "dependency-bump",
        "oncall-summary",
    ]
    row = rows["bug-report-triage"]
    assert (row.owner, row.team, row.stage, row.model) == (
        "platform-team",
        "platform",
        "production",
        "triage-default",
    )
    assert row.schedule == "0 6 * * 1-5 (Europe/Berlin)" and row.budget == "$20/day"
    assert row.grants == "github: read, add_label, comment; linear: read, update_issue"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a destructive tool, granted by name
        ("merge_pr", [("dependency-bump", "dependency-bump", "tool", "destructive")]),
        # a tool reached through the `read` class, by loops and sub-agents
        (
            "ci.get_log",
            [
                ("ci-failure-triage", "ci-failure-triage", "tool", "read"),
                ("ci-failure-triage", "ci-failure-triage/log-reader", "tool", "read"),
                ("dependency-bump", "dependency-bump", "tool", "read"),
                ("dependency-bump", "dependency-bump/verifier", "tool", "read"),
            ],
        ),
        # a server
        (
            "slack",
            [
                ("cost-report", "cost-report", "server", ""),
                ("oncall-summary", "oncall-summary", "server", ""),
            ],
        ),
        # an artifact
        ("weekly-cost-report", [("cost-report", "cost-report", "owns", "")]),
        ("no-such-thing", []),
    ],
)
def test_who_touches(query: str, expected: list[tuple[str, str, str, str]]) -> None:
    hits = who_touches(FLEET, AGENTS, query)
    assert [(h.loop, h.member, h.kind, h.cls) for h in hits] == expected


def test_who_touches_names_the_granting_pattern() -> None:
    (hit,) = who_touches(FLEET, AGENTS, "merge_pr")
    assert hit.detail == "github.merge_pr via merge_pr"


def test_owners() -> None:
    rows = {o.owner: o for o in owners(FLEET, AGENTS)}
    assert sorted(rows) == ["finops", "platform-team"]
    assert rows["platform-team"].team == "platform"
    assert rows["platform-team"].loops == [
        "bug-report-triage",
        "ci-failure-triage",
        "dependency-bump",
        "oncall-summary",
    ]
    assert rows["finops"].artifacts == ["weekly-cost-report"]


@pytest.mark.parametrize(
    ("args", "key", "expected"),
    [
        (
            ["ls"],
            "loop",
            [
                "bug-report-triage",
                "ci-failure-triage",
                "cost-report",
                "dependency-bump",
                "oncall-summary",
            ],
        ),
        (["who-touches", "pagerduty"], "loop", ["oncall-summary"]),
        (["owners"], "owner", ["finops", "platform-team"]),
    ],
)
def test_cli_json(args: list[str], key: str, expected: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, str(FIXTURE), "-o", "json"])
    assert result.exit_code == 0
    assert [row[key] for row in json.loads(result.stdout)] == expected


def test_cli_table_and_bad_output() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["owners", str(FIXTURE)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == ["OWNER", "TEAM", "LOOPS", "ARTIFACTS"]
    assert runner.invoke(app, ["ls", str(FIXTURE), "-o", "yaml"]).exit_code == 2


def test_cli_invalid_fleet_exit_1(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text("fleet: broken\nmodels: 3\n")
    result = CliRunner().invoke(app, ["ls", str(tmp_path)])
    assert result.exit_code == 1 and "fleet.yaml" in result.stdout + result.stderr


def test_glob_grant_reaches_only_the_servers_catalog() -> None:
    from fleet.spec import Grant

    triage = next(a for a in AGENTS if a.name == "bug-report-triage")
    wide = triage.model_copy(update={"mcp_servers": {"linear": Grant(tools=["*"])}})
    agents = [wide]
    # linear offers update_issue but not merge_pr, which is a github tool.
    assert who_touches(FLEET, agents, "merge_pr") == []
    (hit,) = who_touches(FLEET, agents, "update_issue")
    assert (hit.loop, hit.detail, hit.cls) == (
        "bug-report-triage",
        "linear.update_issue via *",
        "write",
    )
