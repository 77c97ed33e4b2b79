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

from fleet.errors import GitError
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
            found = [
                e for e in entries if self.source.read(f"skills/{name}/{e}/SKILL.md") is not None
            ]
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
        out: list[tuple[str, bytes]] = []
        self._walk(root, "", out)
        return out

    def _walk(self, root: str, rel: str, out: list[tuple[str, bytes]]) -> None:
        base = f"{root}/{rel}" if rel else root
        for entry in self.source.listdir(base):
            child = f"{rel}/{entry}" if rel else entry
            if self.source.isdir(f"{root}/{child}"):
                self._walk(root, child, out)
            else:
                data = self.source.read(f"{root}/{child}")
                if data is not None:
                    out.append((child, data))


class GitRegistry:
    """Skills and prompts read from tags of another git repository, via gitpython."""

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
            except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
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
        if kind not in self.spec.kinds:
            return None
        tag = self._load().get(self._tag(kind, name, version))
        if tag is None:
            return None
        tree = tag.commit.tree  # type: ignore[attr-defined]
        try:
            if kind == "prompts":
                blob = tree / f"prompts/{name}.md"
                return [(PROMPT_FILE, blob.data_stream.read())]
            sub = tree / f"skills/{name}"
        except KeyError:
            return None
        prefix = len(sub.path) + 1
        out = [(b.path[prefix:], b.data_stream.read()) for b in sub.traverse() if b.type == "blob"]
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
