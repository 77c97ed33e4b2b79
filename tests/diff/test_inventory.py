"""Inventory queries over the northwind fleet: ls, who-touches, owners."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fleet.inventory import loop_rows, owners, who_touches
from fleet.load import load_fleet
from fleet.source import DirSource
from fleetctl.cli import app
from tests.conftest import EXAMPLES

NORTHWIND = EXAMPLES / "northwind"
loaded, _ = load_fleet(DirSource(NORTHWIND))
assert loaded is not None
FLEET = loaded.fleet
AGENTS = [a.agent for a in loaded.agents]


def test_ls_rows() -> None:
    rows = {r.loop: r for r in loop_rows(FLEET, AGENTS)}
    assert len(rows) == 11
    row = rows["bug-report-triage"]
    assert (row.owner, row.team, row.stage, row.model) == (
        "platform-team",
        "platform",
        "production",
        "triage-default",
    )
    assert row.schedule == "0 6 * * 1-5 (Europe/Berlin)" and row.budget == "$20/day"
    assert row.grants == "github: read, add_label, comment; linear: read, update_issue"


def test_who_touches_destructive_tool() -> None:
    hits = who_touches(FLEET, AGENTS, "merge_pr")
    assert [(h.loop, h.member, h.cls) for h in hits] == [
        ("dependency-bump", "dependency-bump", "destructive")
    ]


def test_who_touches_tool_through_class_and_glob() -> None:
    hits = who_touches(FLEET, AGENTS, "ci.get_log")
    members = [h.member for h in hits]
    assert "ci-failure-triage/log-reader" in members and "oncall-summary" not in members
    assert all(h.detail.startswith("ci.get_log via ") for h in hits)


def test_who_touches_server_and_artifact() -> None:
    assert [h.loop for h in who_touches(FLEET, AGENTS, "pagerduty")] == [
        "oncall-summary",
        "security-advisories",
    ]
    (hit,) = who_touches(FLEET, AGENTS, "changelog-md")
    assert (hit.loop, hit.kind) == ("changelog", "owns")
    assert who_touches(FLEET, AGENTS, "no-such-thing") == []


def test_owners() -> None:
    rows = {o.owner: o for o in owners(FLEET, AGENTS)}
    assert rows["release-eng"].loops == ["changelog", "release-notes"]
    assert rows["release-eng"].artifacts == ["changelog-md", "release-notes-draft"]
    assert rows["release-eng"].team == "platform"


def test_cli_json_outputs() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ls", str(NORTHWIND), "-o", "json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 11
    result = runner.invoke(app, ["who-touches", "slack", str(NORTHWIND), "-o", "json"])
    assert [r["loop"] for r in json.loads(result.stdout)] == [
        "cost-report",
        "oncall-summary",
        "release-notes",
        "security-advisories",
    ]
    result = runner.invoke(app, ["owners", str(NORTHWIND)])
    assert result.exit_code == 0 and "security-team" in result.stdout
