"""The reusable workflow and composite action are well-formed and wired to the CLI's contract."""

from __future__ import annotations

from ruamel.yaml import YAML

from tests.conftest import ROOT

yaml = YAML(typ="safe", pure=True)


def test_reusable_workflow() -> None:
    wf = yaml.load((ROOT / ".github" / "workflows" / "fleet-pr.yml").read_text())
    trigger = wf[True] if True in wf else wf["on"]
    assert set(trigger["workflow_call"]["inputs"]) >= {"path", "fail-on", "allow-label"}
    steps = wf["jobs"]["fleet"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "fleetctl validate" in runs and "--output github" in runs
    assert "--output markdown" in runs and "--fail-on" in runs
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))[
        "with"
    ]["script"]
    assert "<!-- fleetctl-diff -->" in script and "updateComment" in script


def test_composite_action() -> None:
    action = yaml.load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert any("fleetctl diff" in s.get("run", "") for s in action["runs"]["steps"])
