"""A fleet read straight from git objects at a revision: no checkout, no work tree.

``fleetctl diff`` compiles the base (and optionally the head) revision through
this source with the same loader that validates the working tree.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from fleet.errors import GitError, did_you_mean


class GitSource:
    """The files under ``subdir`` of ``rev`` in the repository at ``repo_path``."""

    def __init__(
        self,
        repo_path: Path,
        rev: str,
        subdir: str = "",
        label: str | None = None,
        *,
        missing_ok: bool = False,
    ):
        """``missing_ok``: a ``subdir`` absent at ``rev`` reads as an empty tree (a new fleet)."""
        import git

        try:
            self.repo = git.Repo(repo_path, search_parent_directories=True)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
            raise GitError(f"{repo_path} is not inside a git repository") from exc
        try:
            commit = self.repo.commit(rev)
        except (git.BadName, ValueError, git.GitCommandError) as exc:
            refs = [r.name for r in self.repo.refs]
            hint = did_you_mean(rev, refs)
            raise GitError(f"unknown revision '{rev}'" + (f" ({hint})" if hint else "")) from exc
        self.rev = rev
        self.commit = commit.hexsha
        self.subdir = subdir.strip("/")
        self.label = (
            label if label is not None else (f"{rev}:{self.subdir}" if self.subdir else f"{rev}:")
        )
        tree: Any = commit.tree
        self._files: dict[str, Any] = {}
        self._dirs: dict[str, list[str]] = {"": []}
        if self.subdir and self.subdir != ".":
            try:
                tree = tree / self.subdir
            except KeyError as exc:
                if not missing_ok:
                    raise GitError(f"'{self.subdir}' does not exist at {rev}") from exc
                tree = None
        prefix = len(tree.path) + 1 if tree is not None and tree.path else 0
        for item in tree.traverse() if tree is not None else ():
            rel = item.path[prefix:]
            parent = str(PurePosixPath(rel).parent)
            parent = "" if parent == "." else parent
            self._dirs.setdefault(parent, []).append(PurePosixPath(rel).name)
            if item.type == "tree":
                self._dirs.setdefault(rel, [])
            elif item.type == "blob":
                self._files[rel] = item
        work = self.repo.working_tree_dir
        self.root = Path(work) / self.subdir if work else None
        """Where registries with relative paths are found (the work tree's copy of the fleet dir)."""

    def read(self, path: str) -> bytes | None:
        blob = self._files.get(_norm(path))
        return None if blob is None else blob.data_stream.read()

    def listdir(self, path: str) -> list[str]:
        return sorted(self._dirs.get(_norm(path), []))

    def isdir(self, path: str) -> bool:
        return _norm(path) in self._dirs


def _norm(path: str) -> str:
    text = str(PurePosixPath(path))
    return "" if text == "." else text


def locate(path: Path) -> tuple[Path, str]:
    """The repository's work tree holding ``path``, and ``path`` relative to it (POSIX)."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
        raise GitError(f"{path} is not inside a git repository") from exc
    top = Path(repo.working_tree_dir or ".").resolve()
    rel = path.resolve().relative_to(top).as_posix()
    return top, "" if rel == "." else rel
