"""Compile: deterministic bytes, CRs valid against their CRDs, inheritance merged, kustomization complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from fleet.compile import compile_fleet
from fleet.errors import SpecError
from fleet.schema import generated_files
from fleet.source import DirSource
from fleet.yamlout import dump_all
from tests.conftest import FIXTURES, ROOT, overlay

yaml = YAML(typ="safe", pure=True)


def compile_dir(root: Path) -> Any:
    return compile_fleet(DirSource(root, "fleet"), git_commit="0123abc")


def crd_validator(crd: dict[str, Any]) -> jsonschema.Draft4Validator:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft4Validator(schema)


@pytest.fixture(params=["base", "design"])
def fleet_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return overlay(tmp_path / "fleet", FIXTURES / request.param)


def test_same_input_same_bytes(fleet_dir: Path, tmp_path: Path) -> None:
    first = compile_dir(fleet_dir)
    copy = overlay(tmp_path / "copy", fleet_dir)
    second = compile_dir(copy)
    assert first.files("fleet-system") == second.files("fleet-system")
    assert dump_all(first.documents()) == dump_all(second.documents())


def test_every_cr_validates_against_its_crd(fleet_dir: Path) -> None:
    compiled = compile_dir(fleet_dir)
    by_kind = {crd["spec"]["names"]["kind"]: crd_validator(crd) for crd in compiled.crds}
    for doc in [compiled.policy, *compiled.loops]:
        errors = sorted(by_kind[doc["kind"]].iter_errors(doc), key=str)
        assert errors == [], f"{doc['metadata']['name']}: {errors[0].message}"


def test_crd_rejects_a_broken_cr(fleet_dir: Path) -> None:
    compiled = compile_dir(fleet_dir)
    validator = crd_validator(compiled.crds[0])
    loop = compiled.loops[0]
    loop["spec"]["stage"] = "prod"
    loop["spec"]["harness"]["maxSteps"] = 0
    assert len(list(validator.iter_errors(loop))) == 2


def test_yaml_round_trips(fleet_dir: Path) -> None:
    compiled = compile_dir(fleet_dir)
    for name, text in compiled.files().items():
        assert yaml.load(text) is not None, name
    assert list(yaml.load_all(dump_all(compiled.documents()))) == compiled.documents()


def test_policy_merged_into_loops(tmp_path: Path) -> None:
    compiled = compile_dir(overlay(tmp_path / "fleet", FIXTURES / "base"))
    alpha, beta = compiled.loops
    assert alpha["metadata"]["name"] == "alpha"
    spec = alpha["spec"]
    assert spec["budget"] == {"limitUsd": 10.0, "window": "day", "alertAt": [75, 90, 100]}
    assert beta["spec"]["budget"] == {"limitUsd": 50.0, "window": "day", "alertAt": [75, 90, 100]}
    assert spec["rateLimits"] == {"requestsPerMinute": 600, "tokensPerMinute": 2000000}
    assert spec["models"] == ["backup", "main"]
    assert spec["approvals"] == {
        "delete_*": "pause_for_human",
        "deploy_*": "pause_for_human",
        "merge_pr": "pause_for_human",
    }
    assert spec["harness"] == {
        "maxSteps": 40,
        "maxTokensPerRun": 500000,
        "stallAfterSteps": 6,
        "maxRunMinutes": 60,
        "maxCheckerRounds": 3,
    }
    # alpha's only checker is its done condition; beta has none: finish alone ends a run.
    assert spec["done"] == {"checker": "reviewer", "commandTimeout": "10m"}
    assert "done" not in beta["spec"]
    assert spec["subagents"][0]["model"] == "backup"
    assert spec["instructions"]["digest"].startswith("sha256:")
    assert (
        spec["instructions"]["configMap"] == "fleet-content-" + spec["instructions"]["digest"][7:23]
    )
    labels = alpha["metadata"]["labels"]
    assert labels["fleetctl.dev/owner"] == "team-a" and labels["fleetctl.dev/stage"] == "production"
    ann = alpha["metadata"]["annotations"]
    assert (
        ann["fleetctl.dev/source"] == "agents/alpha.yaml"
        and ann["fleetctl.dev/git-commit"] == "0123abc"
    )
    guard = compiled.policy["spec"]["gateway"]["guardrails"]
    assert guard["mcpPostTool"] == [
        {"detector": "secrets", "action": "block"},
        {"detector": "pii", "action": "redact"},
    ]


def test_done_and_checker_rounds(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    fleet_yaml = root / "fleet.yaml"
    fleet_yaml.write_text(
        fleet_yaml.read_text().replace(
            "harness_limits: { max_steps: 100,",
            "harness_limits: { max_checker_rounds: 2, max_steps: 100,",
        )
    )
    alpha = root / "agents" / "alpha.yaml"
    alpha.write_text(
        alpha.read_text().replace(
            "    - { name: reviewer",
            "    - { name: second, role: checker }\n    - { name: reviewer",
        )
    )
    beta = root / "agents" / "beta.yaml"
    beta.write_text(
        beta.read_text().replace(
            "max_tokens_per_run: 100000 }",
            "max_tokens_per_run: 100000, max_checker_rounds: 1 }\n"
            '  done: { command: "pytest -q", command_timeout: 5m }',
        )
    )
    alpha_spec, beta_spec = (loop["spec"] for loop in compile_dir(root).loops)
    # Two checkers and no done: section: nothing to guess, finish alone ends a run.
    assert "done" not in alpha_spec and alpha_spec["harness"]["maxCheckerRounds"] == 2
    assert beta_spec["done"] == {"command": "pytest -q", "commandTimeout": "5m"}
    assert beta_spec["harness"]["maxCheckerRounds"] == 1
    assert compile_dir(root).policy["spec"]["harnessLimits"]["maxCheckerRounds"] == 2


def test_content_configmaps_one_per_digest(tmp_path: Path) -> None:
    compiled = compile_dir(overlay(tmp_path / "fleet", FIXTURES / "design"))
    names = [cm["metadata"]["name"] for cm in compiled.content]
    assert names == sorted(set(names)) and len(names) == 2
    skill = next(
        cm
        for cm in compiled.content
        if cm["metadata"]["annotations"]["fleetctl.dev/ref"].startswith("skills/")
    )
    assert sorted(skill["data"]) == ["SKILL.md", "labels.md"]


def test_content_hash_follows_spec(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    before = {
        loop["metadata"]["name"]: loop["metadata"]["annotations"]["fleetctl.dev/content-hash"]
        for loop in compile_dir(root).loops
    }
    (root / "agents" / "beta.yaml").write_text(
        (root / "agents" / "beta.yaml").read_text().replace("30 7 * * *", "45 7 * * *")
    )
    after = {
        loop["metadata"]["name"]: loop["metadata"]["annotations"]["fleetctl.dev/content-hash"]
        for loop in compile_dir(root).loops
    }
    assert before["alpha"] == after["alpha"] and before["beta"] != after["beta"]


def test_kustomization_lists_every_file(tmp_path: Path) -> None:
    compiled = compile_dir(overlay(tmp_path / "fleet", FIXTURES / "base"))
    files = compiled.files("fleet-system")
    kustomization = yaml.load(files["kustomization.yaml"])
    assert kustomization["namespace"] == "fleet-system"
    assert sorted(kustomization["resources"]) == sorted(
        n for n in files if n != "kustomization.yaml"
    )


def test_invalid_fleet_does_not_compile(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base", FIXTURES / "rules" / "FL111" / "bad")
    with pytest.raises(SpecError) as info:
        compile_dir(root)
    assert "[FL111]" in str(info.value)


def test_generated_schemas_are_checked_in() -> None:
    for name, text in generated_files().items():
        path = ROOT / "schemas" / name
        assert path.exists() and path.read_text() == text, (
            f"schemas/{name} drifted: run `make schemas`"
        )
