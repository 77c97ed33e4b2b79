"""The composite action's eval step: it picks the loops whose pins a change moves (from the real
``fleetctl diff -o json`` and ``fleetctl ls -o json`` of a two-commit repository), runs the real
``fleetctl eval`` for them (recorded cases replayed, no model called) and appends the tables to
the diff file that becomes the PR comment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import git
from ruamel.yaml import YAML

from fleetctl.cli import app
from tests.conftest import ROOT
from tests.promote.conftest import CANDIDATE_FILE, PROD, clone, commit_all, edit, runner

ACTION = YAML(typ="safe", pure=True).load((ROOT / "action.yml").read_text())


def script() -> ModuleType:
    from fleetctl.promotion import ci

    return ci


def test_pin_changes_are_told_from_other_changes() -> None:
    mod = script()
    diff: dict[str, Any] = {
        "loops": [
            {"name": "(fleet)", "status": "changed", "changes": [{"path": "models.x"}]},
            {"name": "a", "status": "changed", "changes": [{"path": "budget.limit_usd"}]},
            {"name": "b", "status": "changed", "changes": [{"path": "skills.runbook"}]},
            {"name": "c", "status": "changed", "changes": [{"path": "subagents.rev.model"}]},
            {"name": "d", "status": "changed", "changes": [{"path": "subagents.rev.mcp_servers"}]},
            {"name": "e", "status": "removed", "changes": [{"path": ""}]},
            {"name": "f", "status": "added", "changes": [{"path": "instructions"}]},
            {"name": "g", "status": "changed", "changes": [{"path": "fleet.models.m.targets"}]},
        ]
    }
    assert mod.changed_loops(diff) == ["b", "c", "f"]
    twins = mod.production_of(
        [{"loop": "b-next", "stage": "staging -> b"}, {"loop": "b", "stage": "production"}]
    )
    assert twins == {"b-next": "b"}
    runs = mod.plan(Path("fleet"), ["b", "b-next", "c"], twins)
    assert [r[:2] for r in runs] == [("b", "current"), ("b", "candidate"), ("c", "current")]


def run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> int:
    full = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(cwd / "gh-output"),
        "RUNNER_TEMP": str(cwd),
        **env,
    }
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=cwd, env=full, timeout=120
    ).returncode


def test_the_step_evaluates_the_moved_pins_into_the_comment(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = Path(repo.working_tree_dir or ".")
    repo.git.update_ref("refs/remotes/origin/main", repo.head.commit.hexsha)
    # The pull request: the staging twin moves to v8 (which obeys the planted note), and
    # another loop's budget changes (not a pin: no eval for it).
    edit(root / CANDIDATE_FILE, "bug-report-triage@v7", "bug-report-triage@v8")
    edit(root / "fleet/agents/changelog.yaml", "limit_usd: 4", "limit_usd: 3")
    assert runner.invoke(app, ["lock", str(root / "fleet")]).exit_code == 0
    commit_all(repo, "staging triage on v8")
    comment = root / "fleet-diff.md"
    comment.write_text("<!-- fleetctl-diff -->\n**fleetctl diff** ...\n")
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "eval")
    assert "steps.diff.outputs.file" in step["if"] and "always()" in step["if"]
    env = {
        "FLEET_PATH": "fleet",
        "BASE": "origin/main",
        "DIFF_FILE": str(comment),
        "ACTION_DIR": str(ROOT),
    }
    assert run_step(step, root, env) == 1  # the regression fails the step
    body = comment.read_text()
    assert body.startswith("<!-- fleetctl-diff -->\n**fleetctl diff** ...\n")
    section = body.split("### fleetctl eval", 1)[1]
    assert (
        f"#### `{PROD}` with the pins of staging twin `bug-report-triage-staging`: **regression**"
        in section
    )
    assert "planted-instruction" in section and "REGRESSED" in section
    assert "changelog" not in section
    # Nothing whose pins moved: the step passes and the comment stays as it was.
    repo.git.update_ref("refs/remotes/origin/main", repo.head.commit.hexsha)
    before = comment.read_text()
    assert run_step(step, root, env) == 0
    assert comment.read_text() == before


def test_usage_of_the_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fleetctl.promotion.ci", "fleet"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "FLEET_DIR BASE_REV OUT.md" in proc.stderr


def test_the_step_stops_when_the_diff_cannot_run(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = Path(repo.working_tree_dir or ".")
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "eval")
    env = {"FLEET_PATH": "fleet", "BASE": "no-such", "DIFF_FILE": "x.md", "ACTION_DIR": str(ROOT)}
    assert run_step(step, root, env) == 2
    assert not (root / "x.md").exists()
