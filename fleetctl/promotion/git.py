"""Git for promotions: the repository holding a fleet, a branch and commit of only the changed
files, and the loop's earlier pins read back from history.

A promotion commit carries a trailer, ``Fleet-Promotion: <loop> <candidate>``, and a
rollback one, ``Fleet-Rollback: <loop> <undone commit>``; rollback reads them to find
the promotion to undo, skipping promotions already rolled back. History is read through
:class:`fleet.gitsource.GitSource`, so a revision's files get the same checks (inside the
fleet, size limits) as the working tree's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from fleet.errors import Diagnostic, FleetError, GitError
from fleet.gitsource import GitSource
from fleet.lifecycle import LifecycleError
from fleet.lifecycle.pins import Pins, pins_of
from fleet.yamlsrc import parse

PROMOTION = "Fleet-Promotion"
ROLLBACK = "Fleet-Rollback"
_TRAILER = re.compile(rf"^({PROMOTION}|{ROLLBACK}): *(\S+) +(\S+) *$", re.MULTILINE)


@dataclass
class FleetRepo:
    repo: git.Repo
    top: Path
    sub: str
    """The fleet directory relative to the work tree ("" at its top)."""

    def path(self, rel: str) -> str:
        """A fleet-relative path as git names it, relative to the work tree."""
        return f"{self.sub}/{rel}" if self.sub else rel


def open_repo(fleet: Path, why: str) -> FleetRepo:
    try:
        repo = git.Repo(fleet, search_parent_directories=True)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise LifecycleError(
            Diagnostic(str(fleet), 0, 0, "", "is not inside a git repository", why)
        ) from None
    if repo.working_tree_dir is None:
        raise LifecycleError(Diagnostic(str(fleet), 0, 0, "", "is in a bare repository", why))
    top = Path(repo.working_tree_dir).resolve()
    rel = fleet.resolve().relative_to(top).as_posix()
    return FleetRepo(repo, top, "" if rel == "." else rel)


def refuse_dirty(fr: FleetRepo, files: list[str], shown: dict[str, str]) -> None:
    """Stop before anything is written when a file the commit would hold has local changes."""
    if not fr.repo.head.is_valid():
        raise LifecycleError(
            Diagnostic(
                str(fr.top), 0, 0, "", "the repository has no commit yet", "commit the fleet first"
            )
        )
    status = fr.repo.git.status("--porcelain", "--untracked-files=all", "--", *map(fr.path, files))
    for line in status.splitlines():
        name = line[3:].strip().strip('"')
        rel = next((f for f in files if fr.path(f) == name), name)
        raise LifecycleError(
            Diagnostic(
                shown.get(rel, rel),
                0,
                0,
                "",
                "has uncommitted changes, which the commit would sweep in",
                "commit or discard them first, or run without --commit",
            )
        )


def check_branch(fr: FleetRepo, name: str, kind: str) -> None:
    """A branch the commit can be made on: a valid name that no branch has yet."""
    try:
        fr.repo.git.check_ref_format("--branch", name)
    except git.GitCommandError:
        raise FleetError(
            f"'{name}' is not a valid branch name (see git check-ref-format)"
        ) from None
    if any(h.name == name for h in fr.repo.heads):
        raise FleetError(
            f"branch '{name}' exists already (the same {kind} was committed before?); "
            "name another with --branch, or delete it"
        )


def commit_on_branch(fr: FleetRepo, branch: str, files: list[str], message: str) -> str:
    """Check out a new ``branch`` at HEAD and commit only ``files`` there; returns the sha.

    The working tree keeps every other local change, uncommitted, as ``git checkout -b``
    does; a commit that fails (a hook says no) leaves the previous branch checked out.
    """
    repo = fr.repo
    previous = None if repo.head.is_detached else repo.active_branch.name
    start = repo.head.commit.hexsha
    paths = [fr.path(f) for f in files]
    repo.git.checkout("-b", branch)
    try:
        repo.git.add("--", *paths)
        repo.git.commit("-m", message, "--only", "--", *paths)
    except git.GitCommandError as exc:
        repo.git.checkout(previous or start)
        repo.git.branch("-D", branch)
        text = str(exc.stderr or exc.stdout or "").strip()
        if text.startswith(("stderr:", "stdout:")):  # how gitpython quotes what git said
            text = text.split(":", 1)[1].strip().strip("'")
        reason = text.splitlines()
        raise FleetError(
            f"git commit failed: {reason[-1] if reason else exc.status} "
            "(the files are written; nothing was committed)"
        ) from None
    return repo.head.commit.hexsha


@dataclass(frozen=True)
class Earlier:
    """Pins of the loop at an earlier revision, and why that revision was chosen."""

    rev: str
    pins: Pins
    reason: str
    undoes: str = ""
    """The promotion commit this rollback undoes ("" when the pins came another way)."""


def pins_at(fr: FleetRepo, rev: str, rel: str, loop: str) -> Pins:
    """The loop's pins in its file at ``rev``; a located error when the file is not there."""
    try:
        source = GitSource(fr.top, rev, fr.sub, missing_ok=True)
        text = source.read(rel)
    except GitError as exc:
        raise LifecycleError(
            Diagnostic(fr.path(rel), 0, 0, "", str(exc), "give a commit, branch or tag: --to REV")
        ) from None
    if text is None:
        raise LifecycleError(
            Diagnostic(
                f"{rev}:{fr.path(rel)}",
                0,
                0,
                "",
                f"loop '{loop}' has no file here at {rev}",
                "pick a revision that has the loop: git log -- " + fr.path(rel),
            )
        )
    data, _, diags = parse(text, f"{rev}:{fr.path(rel)}")
    if diags:
        raise LifecycleError(diags[0])
    return pins_of(data)


def _trailers(message: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in _TRAILER.finditer(message)]


def _commits(fr: FleetRepo, rel: str) -> list[Any]:
    try:
        return list(fr.repo.iter_commits("HEAD", paths=fr.path(rel)))
    except (git.GitCommandError, ValueError):
        return []


def previous_pins(fr: FleetRepo, rel: str, loop: str, now: Pins) -> Earlier:
    """What a rollback restores: the pins before the last promotion not yet rolled back, or,
    with no promotion in the file's history, its latest revision whose pins differ."""
    commits = _commits(fr, rel)
    undone: set[str] = set()
    oldest = -1  # history newer than the oldest promotion or rollback is theirs to explain
    for i, c in enumerate(commits):
        for kind, name, arg in _trailers(c.message):
            if name != loop:
                continue
            oldest = i
            if kind == ROLLBACK:
                undone.add(arg)
            elif c.hexsha not in undone:
                if not c.parents:
                    break
                parent = c.parents[0].hexsha
                return Earlier(
                    parent[:12],
                    pins_at(fr, parent, rel, loop),
                    f"the pins before promotion {c.hexsha[:12]} ({c.summary})",
                    c.hexsha,
                )
    for c in commits[oldest + 1 :]:
        pins = pins_at(fr, c.hexsha, rel, loop)
        if pins != now:
            return Earlier(c.hexsha[:12], pins, f"the last revision with other pins ({c.summary})")
    raise LifecycleError(
        Diagnostic(
            fr.path(rel),
            0,
            0,
            "",
            f"no earlier pins of loop '{loop}' in the git history of this file "
            f"({len(commits)} commit(s): no promotion left to undo, no older revision with "
            "other pins)",
            "name a revision to restore: fleetctl rollback " + loop + " --to REV",
        )
    )
