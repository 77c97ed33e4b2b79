"""Staging and production pairs: a candidate that keeps to its production loop's owner,
grants and trigger validates clean, compiles with a promotes-to label on its AgentLoop and
shows its pairing in ``fleetctl ls``; grants are compared by what they open, not by spelling."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleet.compile import compile_fleet
from fleet.resolve import check
from fleet.source import DirSource
from fleetctl.cli import app
from tests.conftest import FIXTURES, overlay

PAIR = FIXTURES / "rules" / "FL211" / "good"


def paired(tmp_path: Path) -> Path:
    return overlay(tmp_path / "fleet", FIXTURES / "base", PAIR)


def test_a_narrower_candidate_is_clean_and_labelled(tmp_path: Path) -> None:
    root = paired(tmp_path)
    report = check(DirSource(root, "fleet"))
    assert [d.format() for d in report.diagnostics] == []
    compiled = compile_fleet(DirSource(root, "fleet"), git_commit="0123abc", lock=False)
    labels = {loop["metadata"]["name"]: loop["metadata"]["labels"] for loop in compiled.loops}
    assert labels["alpha-next"]["fleetctl.dev/promotes-to"] == "alpha"
    assert labels["alpha-next"]["fleetctl.dev/stage"] == "staging"
    assert "fleetctl.dev/promotes-to" not in labels["alpha"]


def test_ls_shows_the_pairing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ls", str(paired(tmp_path)), "-o", "json"])
    assert result.exit_code == 0, result.output
    stages = {row["loop"]: row["stage"] for row in json.loads(result.stdout)}
    assert stages == {"alpha": "production", "alpha-next": "staging -> alpha", "beta": "staging"}


def test_a_class_is_narrower_only_when_production_opens_all_of_it(tmp_path: Path) -> None:
    root = paired(tmp_path)
    cand = root / "agents" / "alpha-next.yaml"
    # alpha holds [read, create_pr]: 'write' also opens 'comment', which alpha lacks.
    cand.write_text(cand.read_text().replace("[get_*, create_pr]", "[read, write]"))
    lines = [d.format() for d in check(DirSource(root, "fleet")).diagnostics]
    assert lines == [
        "fleet/agents/alpha-next.yaml:10:29: agent.mcp_servers.github.tools[1]: candidate "
        "'alpha-next' is granted 'write' on 'github', which production loop 'alpha' is not "
        "(a candidate's grants are the same as production's or narrower: remove it, or grant "
        "it to 'alpha' first (its own reviewed change)) [FL213]"
    ]
    cand.write_text(cand.read_text().replace("[read, write]", "[list_*, get_*, create_pr]"))
    assert [d.format() for d in check(DirSource(root, "fleet")).diagnostics] == []
