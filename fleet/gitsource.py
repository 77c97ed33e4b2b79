"""A fleet read straight from git objects at a revision: no checkout, no work tree.

``fleetctl diff`` compiles the base (and optionally the head) revision through
this source with the same loader that validates the working tree, and git
registries read a tag's files through :class:`GitTree` too. The containment
rules of :mod:`fleet.source` hold here as well: a tree entry named ``..`` (or
with a backslash or NUL, which git itself would never write) is refused, and a
symbolic link (mode 120000) is followed only while it stays inside the tree.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

from fleet.errors import GitError, ReadError, did_you_mean
from fleet.source import check_path, max_file_bytes, outside, too_large, unsafe_part

LINK_MODE = 0o120000
MAX_LINK_HOPS = 40
"""As many links as one path may pass through before it counts as a loop (Linux's figure)."""


def _unsafe_name(name: str) -> bool:
    return name in ("", ".", "..") or "/" in name or unsafe_part(name) is not None


def unsafe_entry(tree_path: str, name: str) -> ReadError:
    path = f"{tree_path.strip('/')}/{name}" if tree_path.strip("/.") else name
    return ReadError(
        path,
        "is a git tree entry with an unsafe name",
        "git never writes such names; the commit was crafted: do not use it",
    )


class GitTree:
    """The files of one git tree, read lazily from objects; links resolved inside the tree."""

    def __init__(self, tree: Any | None, scope: str = "the fleet", label: str = ""):
        self.label = label
        self._root = tree
        self._scope = scope
        self._children: dict[tuple[bytes, str], Any] = {}

    def _entries(self, tree: Any, path: str) -> list[Any]:
        try:
            items = list(tree)
        except ValueError as exc:  # gitpython refuses '..', '', NUL names while parsing the tree
            found = re.search(r"'tree/(.*)'", str(exc))
            raise unsafe_entry(path, found.group(1) if found else "?") from exc
        for item in items:
            if _unsafe_name(item.name):
                raise unsafe_entry(path, item.name)
        return items

    def _child(self, tree: Any, name: str, path: str) -> Any | None:
        key = (tree.binsha, name)
        if key not in self._children:
            found = None
            for item in self._entries(tree, path):
                if item.name == name:
                    found = item
                    break
            self._children[key] = found
        return self._children[key]

    def _walk(self, path: str) -> tuple[str, Any | None]:
        """``path`` resolved (links followed), and its object (``None`` when absent)."""
        check_path(path)
        pending = deque(p for p in path.split("/") if p not in ("", "."))
        done: list[tuple[str, Any]] = []
        cause = ("", "")
        hops = 0
        while pending:
            part = pending.popleft()
            if part == "..":  # only a link's target can climb
                if not done:
                    raise outside(cause[0], cause[1], cause[1], self._scope)
                done.pop()
                continue
            parent = done[-1][1] if done else self._root
            if parent is None or parent.type != "tree":
                return "/".join(n for n, _ in done), None
            here = "/".join([*(n for n, _ in done), part])
            obj = self._child(parent, part, "/".join(n for n, _ in done))
            if obj is None:
                return here, None
            if obj.type == "blob" and obj.mode == LINK_MODE:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise ReadError(here, "is a link loop", "point the link at a file")
                target = obj.data_stream.read(4097).decode("utf-8", "replace")
                if target.startswith("/") or "\\" in target or "\0" in target:
                    raise outside(here, target, target, self._scope)
                cause = (here, target)
                pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            done.append((part, obj))
        return "/".join(n for n, _ in done), done[-1][1] if done else self._root

    def real(self, path: str) -> str:
        return self._walk(path)[0]

    def read(self, path: str) -> bytes | None:
        _, obj = self._walk(path)
        if obj is None or obj.type != "blob":
            return None
        limit = max_file_bytes()
        if obj.size > limit:
            raise too_large(path, obj.size, limit)
        data: bytes = obj.data_stream.read()
        return data

    def listdir(self, path: str) -> list[str]:
        _, obj = self._walk(path)
        if obj is None or obj.type != "tree":
            return []
        return sorted(
            item.name for item in self._entries(obj, path) if item.type in ("blob", "tree")
        )

    def isdir(self, path: str) -> bool:
        try:
            _, obj = self._walk(path)
        except ReadError:
            return False
        return obj is not None and obj.type == "tree"


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
        if self.subdir and self.subdir != ".":
            try:
                tree = tree / self.subdir
            except KeyError as exc:
                if not missing_ok:
                    raise GitError(f"'{self.subdir}' does not exist at {rev}") from exc
                tree = None
            if tree is not None and tree.type != "tree":
                raise GitError(f"'{self.subdir}' is not a directory at {rev}")
        self._tree = GitTree(tree)
        work = self.repo.working_tree_dir
        self.root = Path(work) / self.subdir if work else None
        """Where registries with relative paths are found (the work tree's copy of the fleet dir)."""

    def read(self, path: str) -> bytes | None:
        return self._tree.read(path)

    def listdir(self, path: str) -> list[str]:
        return self._tree.listdir(path)

    def isdir(self, path: str) -> bool:
        return self._tree.isdir(path)

    def real(self, path: str) -> str:
        return self._tree.real(path)


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
