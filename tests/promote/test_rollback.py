"""``fleetctl rollback`` reads the loop's earlier pins from git history: the pins before the
real promotion (whose commit carries the Fleet-Promotion trailer), promotions already rolled
back skipped, ``--to REV``, and a history with no promotion at all; refusals are located."""

from __future__ import annotations

from pathlib import Path

import git

from fleetctl.cli import app
from tests.conftest import EXAMPLES
from tests.promote.conftest import (
    PROD,
    PROD_FILE,
    Promoted,
    cli,
    clone,
    commit_all,
    edit,
    runner,
    status,
)
from tests.promote.test_promote import refused, root_of

ORIGINAL = (EXAMPLES / "northwind" / "agents" / f"{PROD}.yaml").read_bytes()


def lock(root: Path) -> None:
    result = runner.invoke(app, ["lock", str(root / "fleet")])
    assert result.exit_code == 0, result.output


def set_instructions(repo: git.Repo, old: str, new: str, message: str) -> str:
    root = root_of(repo)
    edit(
        root / PROD_FILE,
        f"instructions: prompts/bug-report-triage@{old}",
        f"instructions: prompts/bug-report-triage@{new}",
    )
    lock(root)
    return commit_all(repo, message)


def instructions(repo: git.Repo) -> str:
    text = (root_of(repo) / PROD_FILE).read_text()
    return text.split("instructions: prompts/bug-report-triage@")[1].split()[0]


def test_rollback_restores_the_pins_before_the_promotion(
    promoted: Promoted, tmp_path: Path
) -> None:
    repo = clone(promoted.repo, tmp_path / "repo")
    root = root_of(repo)
    promotion = repo.head.commit.hexsha
    result = cli(root, "rollback", PROD, "--commit")
    assert result.exit_code == 0, result.output
    assert f"rollback {PROD} to the pins before promotion {promotion[:12]}" in result.output
    assert (
        "instructions: prompts/bug-report-triage@v7 -> prompts/bug-report-triage@v6"
        in result.output
    )
    assert "skills: [triage-runbook@v4] -> [triage-runbook@v3]" in result.output
    assert "instructions.bug-report-triage: v7 @ sha256:" in result.output  # the diff
    # Only pins differed, so the file is the original byte for byte, and so is the lock.
    assert (root / PROD_FILE).read_bytes() == ORIGINAL
    base_lock = repo.commit(promoted.base).tree / "fleet" / "fleet.lock"
    assert (root / "fleet/fleet.lock").read_bytes() == base_lock.data_stream.read()
    head = repo.head.commit
    assert repo.active_branch.name.startswith(f"rollback/{PROD}-")
    assert [p.hexsha for p in head.parents] == [promotion]
    assert sorted(head.stats.files) == [PROD_FILE, "fleet/fleet.lock"]
    assert head.message.startswith(
        f"Roll back {PROD} to the pins of {promoted.base[:12]}\n\n"
        f"Restores the pins before promotion {promotion[:12]} (Promote {PROD}: "
    )
    assert head.message.rstrip().endswith(f"Fleet-Rollback: {PROD} {promotion}")
    assert status(repo) == ""
    # That promotion is undone, and there is none before it: nothing further back to go to.
    line = refused(cli(root, "rollback", PROD))
    assert line.startswith(f"error: fleet/agents/{PROD}.yaml: no earlier pins of loop '{PROD}'")
    assert f"fleetctl rollback {PROD} --to REV" in line


def test_rollbacks_walk_back_through_promotions(base_repo: git.Repo, tmp_path: Path) -> None:
    """Two promotions (commits with the trailer promote writes); each rollback undoes one."""
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    set_instructions(
        repo, "v6", "v7", f"Promote {PROD}\n\nFleet-Promotion: {PROD} {PROD}-staging\n"
    )
    set_instructions(
        repo, "v7", "v8", f"Promote {PROD}\n\nFleet-Promotion: {PROD} {PROD}-staging\n"
    )
    first = cli(root, "rollback", PROD, "--commit", "--branch", "back-1")
    assert first.exit_code == 0, first.output
    assert instructions(repo) == "v7"
    second = cli(root, "rollback", PROD, "--commit", "--branch", "back-2", "-m", "Back to v6")
    assert second.exit_code == 0, second.output
    assert instructions(repo) == "v6" and (root / PROD_FILE).read_bytes() == ORIGINAL
    assert repo.head.commit.message.startswith("Back to v6\n\n")
    refused(cli(root, "rollback", PROD))


def test_without_promotions_the_last_revision_with_other_pins(
    base_repo: git.Repo, tmp_path: Path
) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    set_instructions(repo, "v6", "v7", "Triage on v7")
    edit(root / PROD_FILE, "limit_usd: 20", "limit_usd: 15")  # not a pin: stays as it is
    commit_all(repo, "Triage budget down")
    set_instructions(repo, "v7", "v8", "Triage on v8")
    result = cli(root, "rollback", PROD)
    assert result.exit_code == 0, result.output
    assert "the last revision with other pins (Triage budget down)" in result.output
    assert instructions(repo) == "v7" and "limit_usd: 15" in (root / PROD_FILE).read_text()


def test_to_a_revision(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    start = repo.head.commit.hexsha
    set_instructions(repo, "v6", "v8", "Triage on v8")
    dry = cli(root, "rollback", PROD, "--to", start[:10], "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing written" in dry.output and instructions(repo) == "v8"
    done = cli(root, "rollback", PROD, "--to", "main~1", "-o", "json")
    assert done.exit_code == 0, done.output
    assert '"to": "main~1"' in done.output and '"written": [' in done.output
    assert (root / PROD_FILE).read_bytes() == ORIGINAL
    again = cli(root, "rollback", PROD, "--to", "main~1")
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_refusals(base_repo: git.Repo, tmp_path: Path) -> None:
    repo = clone(base_repo, tmp_path / "repo")
    root = root_of(repo)
    line = refused(cli(root, "rollback", PROD, "--to", "no-such-rev"))
    assert line.startswith(f"error: fleet/agents/{PROD}.yaml: unknown revision 'no-such-rev'")
    line = refused(cli(root, "rollback", "triage"))
    assert f"{root}/fleet/agents/: no loop named 'triage'" in line
    line = refused(cli(root, "rollback", PROD))  # one commit: no earlier pins
    assert "no earlier pins" in line
    set_instructions(repo, "v6", "v7", "Triage on v7")
    (root / "fleet/fleet.lock").write_text((root / "fleet/fleet.lock").read_text() + "\n")
    line = refused(cli(root, "rollback", PROD, "--commit"))
    assert line.startswith(f"error: {root}/fleet/fleet.lock: has uncommitted changes")
    assert instructions(repo) == "v7"
