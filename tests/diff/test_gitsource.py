"""A fleet read from git objects reads exactly like the same fleet on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from fleet.errors import GitError
from fleet.gitsource import GitSource, locate
from fleet.source import DirSource

FIXTURE = Path(__file__).parent / "fleet"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(FIXTURE, root / "deep" / "fleet")
    r = git.Repo.init(root)
    with r.config_writer() as cfg:
        cfg.set_value("user", "name", "Fleet").set_value("user", "email", "fleet@example.org")
    r.git.add(A=True)
    r.index.commit("one")
    r.create_tag("v1")
    return root


def walk(source: GitSource | DirSource, path: str = "") -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for name in source.listdir(path):
        child = f"{path}/{name}" if path else name
        if source.isdir(child):
            out.update(walk(source, child))
        else:
            out[child] = source.read(child)
    return out


def test_same_files_as_the_directory(repo: Path) -> None:
    from_git = walk(GitSource(repo, "v1", "deep/fleet"))
    assert from_git == walk(DirSource(FIXTURE)) and len(from_git) > 10


@pytest.mark.parametrize(
    ("rev", "subdir", "message"),
    [
        # the hint names the refs that exist
        ("v2", "deep/fleet", "unknown revision 'v2' ("),
        ("v1", "deep/nope", "'deep/nope' does not exist at v1"),
    ],
)
def test_errors(repo: Path, rev: str, subdir: str, message: str) -> None:
    with pytest.raises(GitError) as info:
        GitSource(repo, rev, subdir)
    assert str(info.value).startswith(message) and "v1" in str(info.value)


def test_missing_ok_reads_empty(repo: Path) -> None:
    source = GitSource(repo, "v1", "deep/nope", missing_ok=True)
    assert source.listdir("") == [] and source.read("fleet.yaml") is None


def test_locate_and_not_a_repo(repo: Path, tmp_path: Path) -> None:
    assert locate(repo / "deep" / "fleet") == (repo.resolve(), "deep/fleet")
    with pytest.raises(GitError, match="not inside a git repository"):
        GitSource(tmp_path, "HEAD")
