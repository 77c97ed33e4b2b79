"""Where fleet files come from: a directory on disk, or a tree in git; every read stays inside.

The loader reads through a :class:`Source`, so ``fleetctl diff`` can compile a
revision straight from git objects with the same code that validates the
working tree. Paths are POSIX, relative to the fleet root.

A fleet is untrusted input (a pull request can change any file of it), so a
source never reads outside its root: a path with ``..``, an absolute path, a
backslash or a NUL is refused, and so is a symbolic link whose target leaves
the root (the link is named in the error). Links that stay inside the root are
followed: ``prompts/triage/latest.md -> v6.md`` is fine. Only regular files are
read (a FIFO would block, a device would never end), and none larger than
:func:`max_file_bytes`. Refusals raise :class:`fleet.errors.ReadError`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from fleet.errors import FleetError, ReadError

MAX_FILE_BYTES_ENV = "FLEET_MAX_FILE_BYTES"
DEFAULT_MAX_FILE_BYTES = 1 << 20
"""1 MiB: far above any hand-written fleet file, and a ConfigMap holds no more anyway."""


def env_limit(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """A positive integer limit from the environment, else ``default``."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise FleetError(f"{name}={text!r} is not a positive integer (the default is {default})")
    return value


def max_file_bytes() -> int:
    """The largest file a fleet may hold, in bytes (``FLEET_MAX_FILE_BYTES``, default 1 MiB)."""
    return env_limit(MAX_FILE_BYTES_ENV, DEFAULT_MAX_FILE_BYTES)


def too_large(path: str, size: int, limit: int) -> ReadError:
    return ReadError(
        path,
        f"file is {size:,} bytes, over the limit of {limit:,} for a fleet file",
        f"fleet files are small text; {MAX_FILE_BYTES_ENV} raises the limit",
    )


def unsafe_part(path: str) -> str | None:
    """Why ``path`` (fleet-relative, POSIX) could name something outside the root, or ``None``."""
    if "\0" in path:
        return "contains a NUL character"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is an absolute path"
    if any(part == ".." for part in path.split("/")):
        return "climbs out with '..'"
    return None


def check_path(path: str) -> None:
    problem = unsafe_part(path)
    if problem:
        raise ReadError(
            path, f"path {problem}", "fleet paths are relative and stay inside the fleet"
        )


def outside(link: str, target: str, resolved: str, scope: str = "the fleet") -> ReadError:
    """The error for a link whose target leaves ``scope``: it names the link and its target."""
    where = target if target == resolved else f"{target} ({resolved})"
    return ReadError(
        link,
        f"is a link to {where}, outside {scope}",
        f"every file read must be inside {scope}: copy the file in, or link only within it",
    )


class Source(Protocol):
    """Read-only access to the files of one fleet."""

    label: str
    """Shown to users, e.g. ``examples/northwind`` or ``origin/main:fleet``."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or ``None`` when it does not exist. Raises :class:`ReadError`."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names (files and directories) directly under ``path``, sorted; ``[]`` if absent."""
        ...

    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a directory inside the fleet (``False`` for one outside it)."""
        ...

    def real(self, path: str) -> str:
        """``path`` with every link resolved, relative to the root. Raises :class:`ReadError`."""
        ...


class DirSource:
    """A fleet in a directory of the file system.

    ``explicit``: files named on the command line, read wherever they are (the
    user chose them; the fleet's own content did not).
    """

    def __init__(self, root: Path, label: str | None = None, *, explicit: Iterable[Path] = ()):
        self.root = root
        self.label = label if label is not None else str(root)
        self._real_root = Path(os.path.realpath(root))
        self._explicit = {os.path.realpath(p) for p in explicit}

    def _resolve(self, path: str) -> Path:
        if os.path.isabs(path) and os.path.realpath(path) in self._explicit:
            return Path(os.path.realpath(path))
        check_path(path)
        real = Path(os.path.realpath(self._real_root / path))
        if real != self._real_root and not real.is_relative_to(self._real_root):
            raise self._escape(path, real)
        return real

    def _escape(self, path: str, real: Path) -> ReadError:
        """Name the first link on ``path`` whose target leaves the root."""
        current = self._real_root
        done: list[str] = []
        for part in path.split("/"):
            candidate = current / part
            done.append(part)
            if candidate.is_symlink():
                resolved = Path(os.path.realpath(candidate))
                if resolved != self._real_root and not resolved.is_relative_to(self._real_root):
                    return outside("/".join(done), os.readlink(candidate), str(resolved))
                current = resolved
            else:
                current = candidate
        return outside(path, str(real), str(real))

    def real(self, path: str) -> str:
        real = self._resolve(path)
        if not real.is_relative_to(self._real_root):
            return str(real)
        rel = real.relative_to(self._real_root).as_posix()
        return "" if rel == "." else rel

    def read(self, path: str) -> bytes | None:
        real = self._resolve(path)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ReadError(path, "is a link loop", "point the link at a file") from exc
            raise ReadError(
                path, f"cannot be read: {exc.strerror}", "check its permissions"
            ) from exc
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                return None
            if not stat.S_ISREG(info.st_mode):
                raise ReadError(
                    path,
                    "is not a regular file (a FIFO, socket or device)",
                    "fleet files are plain text files",
                )
            limit = max_file_bytes()
            if info.st_size > limit:
                raise too_large(path, info.st_size, limit)
            data = fh.read(limit + 1)
            if len(data) > limit:
                raise too_large(path, len(data), limit)
            return data

    def listdir(self, path: str) -> list[str]:
        real = self._resolve(path) if path not in ("", ".") else self._real_root
        try:
            return sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise ReadError(
                path, f"cannot be listed: {exc.strerror}", "check its permissions"
            ) from exc

    def isdir(self, path: str) -> bool:
        try:
            real = self._resolve(path) if path not in ("", ".") else self._real_root
        except ReadError:
            return False
        return real.is_dir()
