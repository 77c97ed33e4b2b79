"""The reusable workflow and composite action are well-formed, and their diff steps, run as
shell scripts against a real repository, turn fleetctl's exit codes into the right outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT

yaml = YAML(typ="safe", pure=True)
WORKFLOW = yaml.load((ROOT / ".github" / "workflows" / "fleet-pr.yml").read_text())
ACTION = yaml.load((ROOT / "action.yml").read_text())
AGENT = "fleet/agents/bug-report-triage.yaml"


def test_reusable_workflow_shape() -> None:
    trigger = WORKFLOW[True] if True in WORKFLOW else WORKFLOW["on"]
    assert set(trigger["workflow_call"]["inputs"]) >= {
        "path",
        "python-version",
        "fleetctl-version",
        "fail-on",
        "allow-label",
    }
    steps = WORKFLOW["jobs"]["fleet"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch must be in the clone
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "fleetctl validate" in runs and "--output github" in runs
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))[
        "with"
    ]["script"]
    assert "<!-- fleetctl-diff -->" in script and "updateComment" in script
    gate = steps[-1]
    assert "inputs.allow-label" in gate["if"] and "steps.diff.outputs.risky" in gate["if"]
    # Inputs reach shell scripts through the environment, never spliced into the script.
    assert "${{" not in runs


def test_composite_action_shape() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["outputs"]) == {"diff-file", "risky"}
    assert "${{" not in "\n".join(s.get("run", "") for s in ACTION["runs"]["steps"])


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone-like repository: origin/main at the base, HEAD with a change per branch."""
    root = tmp_path_factory.mktemp("pr")
    shutil.copytree(Path(__file__).parent / "fleet", root / "fleet")
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
    repo.git.add(A=True)
    base = repo.index.commit("base")
    repo.create_head("main", base)
    repo.git.update_ref("refs/remotes/origin/main", base.hexsha)
    return root


def run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    out, summary = cwd / "gh-output", cwd / "gh-summary"
    out.write_text("")
    full = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(cwd),
        **env,
    }
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=full, timeout=60)
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    return proc.returncode, outputs


def commit_change(root: Path, name: str, old: str, new: str) -> None:
    repo = git.Repo(root)
    repo.git.checkout("main", "-B", name)
    path = root / AGENT
    path.write_text(path.read_text().replace(old, new))
    repo.git.add("fleet")
    repo.index.commit(name)


CHANGES = [
    ("budget", "limit_usd: 20", "limit_usd: 35", "high", "true"),
    ("schedule", '"0 6 * * 1-5"', '"0 7 * * 1-5"', "high", "false"),
    ("schedule2", '"0 6 * * 1-5"', '"0 8 * * 1-5"', "medium", "true"),
]


@pytest.mark.parametrize(("name", "old", "new", "fail_on", "risky"), CHANGES)
def test_diff_steps(pr_repo: Path, name: str, old: str, new: str, fail_on: str, risky: str) -> None:
    commit_change(pr_repo, name, old, new)
    wf_step = next(s for s in WORKFLOW["jobs"]["fleet"]["steps"] if s.get("id") == "diff")
    code, outputs = run_step(
        wf_step, pr_repo, {"FLEET_PATH": "fleet", "BASE_REF": "main", "FAIL_ON": fail_on}
    )
    # The workflow step itself passes; the gate step decides, using the label.
    assert code == 0 and outputs == {"risky": risky}
    body = (pr_repo / "fleet-diff.md").read_text()
    assert body.startswith("<!-- fleetctl-diff -->\n**fleetctl diff** `origin/main`")
    action_step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "diff")
    code, outputs = run_step(
        action_step, pr_repo, {"FLEET_PATH": "fleet", "BASE": "origin/main", "FAIL_ON": fail_on}
    )
    assert code == (1 if risky == "true" else 0)
    assert outputs == {"file": str(pr_repo / "fleet-diff.md"), "risky": risky}


def test_diff_step_stops_on_error(pr_repo: Path) -> None:
    wf_step = next(s for s in WORKFLOW["jobs"]["fleet"]["steps"] if s.get("id") == "diff")
    code, outputs = run_step(
        wf_step, pr_repo, {"FLEET_PATH": "fleet", "BASE_REF": "no-such-branch", "FAIL_ON": "high"}
    )
    assert code == 2 and outputs == {}


def test_eval_step_names_moved_pins(pr_repo: Path) -> None:
    """A PR that moves a loop's pins gets an eval section in the comment; with no recorded
    cases for the loop, it says so and the step passes (regressed=false)."""
    commit_change(pr_repo, "pins", "prompts/bug-report-triage@v6", "prompts/bug-report-triage@v5")
    diff_step = next(s for s in WORKFLOW["jobs"]["fleet"]["steps"] if s.get("id") == "diff")
    env = {"FLEET_PATH": "fleet", "BASE_REF": "main", "FAIL_ON": "high"}
    assert run_step(diff_step, pr_repo, env)[0] == 0
    eval_step = next(s for s in WORKFLOW["jobs"]["fleet"]["steps"] if s.get("id") == "eval")
    assert eval_step["if"] == "inputs.eval"
    code, outputs = run_step(eval_step, pr_repo, env)
    assert code == 0 and outputs == {"regressed": "false"}
    body = (pr_repo / "fleet-diff.md").read_text()
    assert "### fleetctl eval" in body
    assert "`bug-report-triage` (its own new pins): not evaluated" in body
    gate = next(s for s in WORKFLOW["jobs"]["fleet"]["steps"] if s.get("name") == "Gate on evals")
    assert gate["if"] == "steps.eval.outputs.regressed == 'true'"
