"""Registries of pinned skills and prompts, and their content digests.

Two kinds:

* the directory registry inside the fleet repo: ``prompts/<name>/<version>.md``
  and ``skills/<name>/<version>/SKILL.md`` plus any files beside it;
* git registries declared in ``fleet.yaml`` (``registries:``): a repository
  whose tags name versions (pattern such as ``skills/{name}/{version}``). The
  tagged commit's tree holds ``prompts/<name>.md`` or ``skills/<name>/…``.
  Content is read from git objects; nothing is checked out.

A digest is sha256 over every file of a version, in sorted path order, each
framed by its path and length, so renaming a file or moving bytes between
files changes it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fleet.errors import GitError, ReadError
from fleet.source import Source
from fleet.spec import Registry, split_ref

Kind = Literal["prompts", "skills"]
PROMPT_FILE = "PROMPT.md"


@dataclass(frozen=True)
class Pin:
    """A reference as written: ``kind/name@version``."""

    kind: Kind
    name: str
    version: str | None

    @property
    def key(self) -> str:
        return (
            f"{self.kind}/{self.name}@{self.version}"
            if self.version
            else f"{self.kind}/{self.name}"
        )

    @classmethod
    def parse(cls, ref: str, kind: Kind) -> Pin:
        """``prompts/triage@v6`` (kind prompts) or ``triage-runbook@v3`` (kind skills)."""
        name, version = split_ref(ref)
        prefix = f"{kind}/"
        if name.startswith(prefix):
            name = name[len(prefix) :]
        return cls(kind, name, version)


@dataclass(frozen=True)
class Resolved:
    pin: Pin
    version: str
    digest: str  # "sha256:<hex>"
    source: str  # "dir" or a registry name
    files: tuple[tuple[str, bytes], ...]


def digest_files(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for path, data in sorted(files):
        encoded = path.encode()
        h.update(b"%d:" % len(encoded) + encoded + b"%d:" % len(data))
        h.update(data)
    return "sha256:" + h.hexdigest()


class NotFound(Exception):
    """The pin names no known content; ``available`` lists what does exist."""

    def __init__(self, message: str, available: list[str]):
        super().__init__(message)
        self.available = available


_VERSION_KEY = re.compile(r"(\d+)")


def version_sort_key(version: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in _VERSION_KEY.split(version)]


def walk(source: Source, root: str) -> list[tuple[str, bytes]]:
    """Every file under ``root`` as (path below ``root``, bytes).

    Links are followed as the source allows; each real directory is entered once, so
    a link back up the tree is an error rather than an endless walk.
    """
    out: list[tuple[str, bytes]] = []
    seen = {source.real(root)}
    pending = [""]
    while pending:
        rel = pending.pop()
        base = f"{root}/{rel}" if rel else root
        for entry in source.listdir(base):
            child = f"{rel}/{entry}" if rel else entry
            path = f"{root}/{child}"
            if source.isdir(path):
                real = source.real(path)
                if real in seen:
                    raise ReadError(
                        path,
                        f"leads back to {real or 'the root'}, a directory already read",
                        "a link loop: point the link at a file or another directory",
                    )
                seen.add(real)
                pending.append(child)
            else:
                data = source.read(path)
                if data is not None:
                    out.append((child, data))
    return out


class DirRegistry:
    """Skills and prompts kept in the fleet repository itself."""

    name = "dir"

    def __init__(self, source: Source):
        self.source = source

    def versions(self, kind: Kind, name: str) -> list[str]:
        entries = self.source.listdir(f"{kind}/{name}")
        if kind == "prompts":
            found = [e[:-3] for e in entries if e.endswith(".md")]
        else:
            found = [e for e in entries if "SKILL.md" in self.source.listdir(f"skills/{name}/{e}")]
        return sorted(found, key=version_sort_key)

    def names(self, kind: Kind) -> list[str]:
        return self.source.listdir(kind)

    def files(self, kind: Kind, name: str, version: str) -> list[tuple[str, bytes]] | None:
        if kind == "prompts":
            data = self.source.read(f"prompts/{name}/{version}.md")
            return None if data is None else [(PROMPT_FILE, data)]
        root = f"skills/{name}/{version}"
        if self.source.read(f"{root}/SKILL.md") is None:
            return None
        return walk(self.source, root)


class GitRegistry:
    """Skills and prompts read from tags of another git repository, via gitpython.

    A registry is another repository by design, named in ``fleet.yaml`` (so
    in review) and relative to the fleet directory or absolute. What is read
    from it is only git objects of a tagged commit's tree; a link in that tree
    is followed only while it stays inside the tree.
    """

    def __init__(self, spec: Registry, base: Path | None):
        self.spec = spec
        self.name = spec.name
        self._repo: object | None = None
        self._tags: dict[str, object] | None = None
        repo = Path(spec.repo)
        self.path = repo if repo.is_absolute() or base is None else base / repo

    def _load(self) -> dict[str, object]:
        if self._tags is None:
            import git

            try:
                repo = git.Repo(self.path)
            except (git.NoSuchPathError, git.InvalidGitRepositoryError, ValueError) as exc:
                raise GitError(
                    f"registry '{self.name}': {self.path} is not a git repository"
                ) from exc
            self._repo = repo
            self._tags = {t.name: t for t in repo.tags}
        return self._tags

    def _tag(self, kind: Kind, name: str, version: str) -> str:
        return (
            self.spec.tag.replace("{kind}", kind)
            .replace("{name}", name)
            .replace("{version}", version)
        )

    def versions(self, kind: Kind, name: str) -> list[str]:
        if kind not in self.spec.kinds:
            return []
        pattern = (
            re.escape(self._tag(kind, name, "\0"))
            .replace("\\\0", "\0")
            .replace("\0", "(?P<v>[^/]+)")
        )
        rx = re.compile(f"^{pattern}$")
        found = [m.group("v") for t in self._load() if (m := rx.match(t))]
        return sorted(found, key=version_sort_key)

    def files(self, kind: Kind, name: str, version: str) -> list[tuple[str, bytes]] | None:
        from fleet.gitsource import GitTree

        if kind not in self.spec.kinds:
            return None
        tag_name = self._tag(kind, name, version)
        tag = self._load().get(tag_name)
        if tag is None:
            return None
        tree = GitTree(tag.commit.tree, f"the tree of registry '{self.name}'")  # type: ignore[attr-defined]
        try:
            if kind == "prompts":
                data = tree.read(f"prompts/{name}.md")
                return None if data is None else [(PROMPT_FILE, data)]
            out = walk(tree, f"skills/{name}") if tree.isdir(f"skills/{name}") else []
        except ReadError as exc:  # name the tag, as git does: ``rev:path``
            raise ReadError(f"{tag_name}:{exc.path}", exc.message, exc.hint) from exc
        return out if any(p == "SKILL.md" for p, _ in out) else None


class Registries:
    """Resolution in order: the fleet's own directory, then each git registry as declared."""

    def __init__(self, source: Source, specs: list[Registry], base: Path | None):
        self.dir = DirRegistry(source)
        self.git = [GitRegistry(s, base) for s in specs]
        self._cache: dict[Pin, Resolved] = {}

    def resolve(self, pin: Pin) -> Resolved:
        if pin in self._cache:
            return self._cache[pin]
        available: list[str] = []
        registries: list[DirRegistry | GitRegistry] = [self.dir, *self.git]
        for reg in registries:
            versions = reg.versions(pin.kind, pin.name)
            available += [f"{v} ({reg.name})" for v in versions]
            version = pin.version or (versions[-1] if versions else None)
            if version is None or version not in versions:
                continue
            files = reg.files(pin.kind, pin.name, version)
            if files is None:
                continue
            resolved = Resolved(pin, version, digest_files(files), reg.name, tuple(sorted(files)))
            self._cache[pin] = resolved
            return resolved
        if not available:
            names = sorted(set(self.dir.names(pin.kind)))
            raise NotFound(f"no {pin.kind[:-1]} named '{pin.name}'", names)
        raise NotFound(f"{pin.kind[:-1]} '{pin.name}' has no version '{pin.version}'", available)
