"""Integrity and error quality at the CLI: immutable versions in ``lock``, usage errors exit 2,
and the org-wide approval gate shown by ``compile`` and ``diff`` without an ``approvals:`` entry."""

from __future__ import annotations

import json
from pathlib import Path

import git
from ruamel.yaml import YAML
from typer.testing import CliRunner

from fleetctl.cli import app
from tests.conftest import FIXTURES, overlay

runner = CliRunner()
yaml = YAML(typ="safe", pure=True)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def edit_skill(root: Path) -> None:
    (root / "skills" / "runbook" / "v2" / "SKILL.md").write_text("# Runbook v2, edited in place\n")


def test_lock_refuses_to_redigest_a_changed_version(base_fleet: Path) -> None:
    before = (base_fleet / "fleet.lock").read_text()
    edit_skill(base_fleet)
    code, out, err = invoke("lock", str(base_fleet))
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(
        f"{base_fleet}/fleet.lock:7:24: pins.skills/runbook@v2: content of 'skills/runbook@v2' "
        "changed since it was locked (sha256:3334d86cf8c8… → sha256:"
    )
    assert line.endswith(
        "; refusing to re-digest an existing version (versions are immutable: publish the change "
        "as a new version of 'runbook' and pin that; only if v2 was never used, "
        "`fleetctl lock --rehash skills/runbook@v2`) [FL203]"
    )
    assert err == f"{base_fleet}/fleet.lock: not written\n"
    assert (base_fleet / "fleet.lock").read_text() == before
    assert invoke("lock", str(base_fleet), "--check")[0] == 1


def test_rehash_overrides_one_named_version(base_fleet: Path) -> None:
    edit_skill(base_fleet)
    (base_fleet / "prompts" / "alpha" / "v1.md").write_text("edited too\n")
    code, out, _ = invoke("lock", str(base_fleet), "--rehash", "runbook@v2")
    assert code == 1 and "'prompts/alpha@v1' changed" in out and "runbook@v2" not in out
    code, out, _ = invoke(
        "lock", str(base_fleet), "--rehash", "runbook@v2", "--rehash", "prompts/alpha@v1"
    )
    assert code == 0
    assert out.splitlines()[0].startswith("rehashed prompts/alpha@v1: sha256:26ab53102a5a… → ")
    assert out.splitlines()[1].startswith("rehashed skills/runbook@v2: sha256:3334d86cf8c8… → ")
    assert out.splitlines()[2] == f"wrote {base_fleet}/fleet.lock (4 pins)"
    assert invoke("validate", str(base_fleet))[0] == 0


def test_rehash_of_nothing_changed_is_a_usage_error(base_fleet: Path) -> None:
    code, _, err = invoke("lock", str(base_fleet), "--rehash", "runbook@v2")
    assert code == 2
    assert err == (
        "error: --rehash runbook@v2: no locked version whose content changed "
        "(the content of 'skills/runbook@v2' has not changed)\n"
    )
    edit_skill(base_fleet)
    code, _, err = invoke("lock", str(base_fleet), "--rehash", "runbok@v2")
    assert code == 2 and "(did you mean 'skills/runbook@v2'?)" in err


def test_new_pins_and_new_versions_lock_without_rehash(base_fleet: Path) -> None:
    beta = base_fleet / "agents" / "beta.yaml"
    beta.write_text(beta.read_text().replace("skills: [runbook@v2]", "skills: [runbook@v1]"))
    code, out, _ = invoke("lock", str(base_fleet))
    assert code == 0 and "(3 pins)" in out


def test_a_broken_lock_is_not_silently_replaced(base_fleet: Path) -> None:
    (base_fleet / "fleet.lock").write_text("<<<<<<< HEAD\nversion: 1\n")
    code, out, err = invoke("lock", str(base_fleet))
    assert code == 1 and out.startswith(f"{base_fleet}/fleet.lock:2:8: YAML syntax error")
    assert err == (
        f"{base_fleet}/fleet.lock: not written: the lock on disk cannot be read, so changed "
        "versions cannot be told from new ones (restore it from version control, or delete it "
        "and run `fleetctl lock` to lock every pin afresh)\n"
    )


def test_commands_in_a_directory_without_fleet_yaml_exit_2(tmp_path: Path) -> None:
    for command in ("validate", "lock", "compile"):
        code, _, err = invoke(command, str(tmp_path))
        assert code == 2, command
        assert err == (
            f"error: no fleet.yaml in {tmp_path} (a fleet is a directory with fleet.yaml and "
            "agents/*.yaml; see examples/minimal)\n"
        )


def loop_approvals(stream: str, name: str) -> dict[str, str]:
    for doc in yaml.load_all(stream):
        if doc and doc["kind"] == "AgentLoop" and doc["metadata"]["name"].endswith(name):
            return dict(doc["spec"]["approvals"])
    raise AssertionError(f"no AgentLoop {name}")


def grant_delete_branch(root: Path) -> None:
    alpha = root / "agents" / "alpha.yaml"
    alpha.write_text(
        alpha.read_text().replace("[read, create_pr]", "[read, create_pr, delete_branch]")
    )


def test_compile_writes_the_gate_for_a_destructive_grant(base_fleet: Path) -> None:
    grant_delete_branch(base_fleet)
    assert "approvals" not in (base_fleet / "agents" / "alpha.yaml").read_text()
    code, out, _ = invoke("validate", str(base_fleet))
    assert code == 0, out
    code, stream, _ = invoke("compile", str(base_fleet), "--git-commit", "abc")
    assert code == 0
    gate = loop_approvals(stream, "alpha")
    assert gate["delete_branch"] == gate["merge_pr"] == "pause_for_human"


def test_diff_shows_the_gate_a_destructive_grant_brings(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    overlay(top / "fleet", FIXTURES / "base")
    repo = git.Repo.init(top)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    repo.git.add(A=True)
    repo.index.commit("base")
    repo.create_head("base")
    grant_delete_branch(top / "fleet")
    code, out, _ = invoke("diff", str(top / "fleet"), "--base", "base", "-o", "json")
    assert code == 1  # changes found
    changes = {(c["path"], c["risk"]) for loop in json.loads(out)["loops"] for c in loop["changes"]}
    assert ("mcp_servers.github.tools", "high") in changes
    assert ("approvals.delete_branch", "low") in changes
