"""Pins resolve from the fleet's directories and from tags of a git registry, read from git objects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import git
import pytest

from fleet.lockfile import dump
from fleet.registry import DirRegistry, Pin, digest_files
from fleet.resolve import check, lock_entries, resolve_all
from fleet.source import DirSource
from tests.conftest import FIXTURES, overlay


@pytest.fixture
def skills_repo(tmp_path: Path) -> Path:
    path = tmp_path / "skills-repo"
    repo = git.Repo.init(path)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Registry").set_value("user", "email", "registry@example.org")
    skill = path / "skills" / "shared-runbook"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("# Shared runbook v1\n")
    (skill / "refs").mkdir()
    (skill / "refs" / "links.md").write_text("- docs\n")
    (path / "prompts").mkdir()
    (path / "prompts" / "shared-prompt.md").write_text("Be brief.\n")
    repo.index.add(
        [
            "skills/shared-runbook/SKILL.md",
            "skills/shared-runbook/refs/links.md",
            "prompts/shared-prompt.md",
        ]
    )
    repo.index.commit("v1")
    repo.create_tag("skills/shared-runbook/v1")
    repo.create_tag("prompts/shared-prompt/v1")
    (skill / "SKILL.md").write_text("# Shared runbook v2\n")
    repo.index.add(["skills/shared-runbook/SKILL.md"])
    repo.index.commit("v2")
    repo.create_tag("skills/shared-runbook/v2")
    # The work tree moves on after tagging; resolution must read the tag, not the files.
    (skill / "SKILL.md").write_text("# uncommitted edit\n")
    return path


def fleet_with_registry(
    tmp_path: Path, skills_repo: Path, skill: str = "shared-runbook@v1"
) -> Path:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    text = (root / "fleet.yaml").read_text()
    text = text.replace(
        "harness_limits:",
        f"registries:\n  - {{ name: shared, repo: {skills_repo}, tag: '{{kind}}/{{name}}/{{version}}' }}\nharness_limits:",
    )
    (root / "fleet.yaml").write_text(text)
    beta = (root / "agents" / "beta.yaml").read_text()
    beta = beta.replace("skills: [runbook@v2]", f"skills: [runbook@v2, {skill}]").replace(
        "prompts/beta@v1", "prompts/shared-prompt@v1"
    )
    (root / "agents" / "beta.yaml").write_text(beta)
    return root


def test_git_registry_resolves_tags(tmp_path: Path, skills_repo: Path) -> None:
    root = fleet_with_registry(tmp_path, skills_repo)
    report = check(DirSource(root, "fleet"), lock=False, today=dt.date(2027, 3, 1))
    assert report.diagnostics == []
    res = resolve_all(report.fleet)  # type: ignore[arg-type]
    shared = res.pins["skills/shared-runbook@v1"]
    assert shared.source == "shared"
    assert dict(shared.files) == {
        "SKILL.md": b"# Shared runbook v1\n",
        "refs/links.md": b"- docs\n",
    }
    assert shared.digest == digest_files(
        [("SKILL.md", b"# Shared runbook v1\n"), ("refs/links.md", b"- docs\n")]
    )
    assert res.pins["prompts/shared-prompt@v1"].files == (("PROMPT.md", b"Be brief.\n"),)


def test_git_registry_unknown_version_lists_tags(tmp_path: Path, skills_repo: Path) -> None:
    root = fleet_with_registry(tmp_path, skills_repo, "shared-runbook@v7")
    report = check(DirSource(root, "fleet"), lock=False, today=dt.date(2027, 3, 1))
    assert [d.format() for d in report.diagnostics] == [
        "fleet/agents/beta.yaml:8:24: agent.skills[1]: skill 'shared-runbook' has no version 'v7' (available versions: v1 (shared), v2 (shared)) [FL201]"
    ]


def test_lock_round_trip_and_edit_detection(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    report = check(DirSource(root, "fleet"), lock=False)
    (root / "fleet.lock").write_text(dump(lock_entries(resolve_all(report.fleet))))  # type: ignore[arg-type]
    assert check(DirSource(root, "fleet")).diagnostics == []
    (root / "skills" / "runbook" / "v2" / "notes.md").write_text("added beside SKILL.md\n")
    lines = [d.format() for d in check(DirSource(root, "fleet")).diagnostics]
    assert (
        len(lines) == 1
        and "content of 'skills/runbook@v2' changed" in lines[0]
        and lines[0].endswith("[FL203]")
    )


def test_digest_is_order_and_boundary_sensitive() -> None:
    a = digest_files([("a", b"xy"), ("b", b"z")])
    assert a == digest_files([("b", b"z"), ("a", b"xy")])
    assert a != digest_files([("a", b"x"), ("b", b"yz")])
    assert a != digest_files([("a", b"xy"), ("c", b"z")])


def test_dir_registry_versions_sorted_naturally(tmp_path: Path) -> None:
    for v in ("v2", "v10", "v9"):
        (tmp_path / "prompts" / "p").mkdir(parents=True, exist_ok=True)
        (tmp_path / "prompts" / "p" / f"{v}.md").write_text(v)
    reg = DirRegistry(DirSource(tmp_path))
    assert reg.versions("prompts", "p") == ["v2", "v9", "v10"]
    assert Pin.parse("prompts/p@v9", "prompts") == Pin("prompts", "p", "v9")
