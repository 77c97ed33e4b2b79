"""Where fleet files come from: a directory on disk, or a tree in git.

The loader reads through a :class:`Source`, so ``fleetctl diff`` can compile a
revision straight from git objects with the same code that validates the
working tree. Paths are POSIX, relative to the fleet root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Source(Protocol):
    """Read-only access to the files of one fleet."""

    label: str
    """Shown to users, e.g. ``examples/northwind`` or ``origin/main:fleet``."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or ``None`` when it does not exist."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names (files and directories) directly under ``path``, sorted; ``[]`` if absent."""
        ...

    def isdir(self, path: str) -> bool: ...


class DirSource:
    """A fleet in a directory of the file system."""

    def __init__(self, root: Path, label: str | None = None):
        self.root = root
        self.label = label if label is not None else str(root)

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(p.name for p in (self.root / path).iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def isdir(self, path: str) -> bool:
        return (self.root / path).is_dir()
