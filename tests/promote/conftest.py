"""A git repository holding a copy of the northwind fleet, and the CLI run against it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner, Result

from fleetctl.cli import app
from tests.conftest import EXAMPLES

PROD = "bug-report-triage"
CANDIDATE = "bug-report-triage-staging"
PROD_FILE = f"fleet/agents/{PROD}.yaml"
CANDIDATE_FILE = f"fleet/agents/{CANDIDATE}.yaml"
runner = CliRunner()


def fleet_repo(root: Path) -> git.Repo:
    """``root/fleet`` is northwind (its staging twin, cases and transcripts too), committed."""
    shutil.copytree(EXAMPLES / "northwind", root / "fleet", ignore=shutil.ignore_patterns("demo"))
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
        cfg.set_value("commit", "gpgsign", "false")
    repo.git.add(A=True)
    repo.index.commit("northwind")
    return repo


def clone(repo: git.Repo, dest: Path) -> git.Repo:
    """An independent copy with every branch, so one test's commits do not reach another's."""
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(repo.working_tree_dir), str(dest)],
        check=True,
    )
    copy = git.Repo(dest)
    for head in repo.heads:
        if head.name not in [h.name for h in copy.heads]:
            copy.git.branch(head.name, f"origin/{head.name}")
    copy.git.checkout(repo.active_branch.name)
    with copy.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
    return copy


def cli(root: Path, *args: str) -> Result:
    """``fleetctl ARGS --fleet root/fleet``, run in-process."""
    return runner.invoke(app, [*args, "--fleet", str(root / "fleet")])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add(A=True)
    return repo.index.commit(message).hexsha


def status(repo: git.Repo) -> str:
    return repo.git.status("--porcelain", "--untracked-files=all")


@pytest.fixture(scope="session")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> git.Repo:
    """Northwind as committed, never changed: tests clone it."""
    return fleet_repo(tmp_path_factory.mktemp("base"))


@dataclass
class Promoted:
    repo: git.Repo
    base: str
    """The commit promoted from."""
    result: Result


@pytest.fixture(scope="session")
def promoted(base_repo: git.Repo, tmp_path_factory: pytest.TempPathFactory) -> Promoted:
    """The real promotion: ``fleetctl promote --commit``, its gate replaying the recorded cases
    of bug-report-triage through the harness and an embedded gateway (no model is called)."""
    repo = clone(base_repo, tmp_path_factory.mktemp("promoted") / "repo")
    base = repo.head.commit.hexsha
    root = Path(repo.working_tree_dir or ".")
    return Promoted(repo, base, cli(root, "promote", CANDIDATE, "--commit"))
