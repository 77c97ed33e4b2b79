"""A replica's local journal of settlements its shared store could not take.

When Redis is down or stalled at the moment a request settles, the request has
been served (the provider answered, the client is about to get its last byte)
and its spend must not be lost. The replica appends the settlement to a file
of its own and fsyncs it, answers the client, and a background task replays
the file into the store once it answers again. Settling in the store is keyed
by the settlement's id (the trace id), so a settlement that reached the store
after all (a stalled Redis that runs the queued script when it resumes) and
is replayed as well is counted once.

Layout: ``<directory>/<replica>.spill`` holds one JSON line per settlement;
its owner holds an exclusive ``flock`` on it while it lives. A file nobody
holds was left by a replica that died: whoever finds it first takes the lock,
replays it and deletes it, at start-up and on every pass of the replay task.
A torn last line (a kill in the middle of a write) is skipped.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class Spill:
    """The owner's side: append + fsync, and what it has not replayed yet."""

    def __init__(self, directory: Path, replica: str):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{replica}.spill"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock = threading.Lock()
        self.replayed = 0  # bytes of the file already in the store
        self.size = os.fstat(self.fd).st_size

    def append(self, entry: dict[str, Any]) -> None:
        """Durable on return (written and fsynced); call from a worker thread."""
        line = orjson.dumps(entry) + b"\n"
        with self._lock:
            written = os.write(self.fd, line)
            while written < len(line):
                written += os.write(self.fd, line[written:])
            os.fsync(self.fd)
            self.size += len(line)

    def pending(self) -> list[tuple[dict[str, Any], int]]:
        """Entries not replayed yet, each with the offset where it ends."""
        with self._lock:
            size = self.size
        if size <= self.replayed:
            return []
        data = os.pread(self.fd, size - self.replayed, self.replayed)
        return [(e, self.replayed + end) for e, end in entries(data)]

    def done(self, offset: int) -> None:
        """Entries up to ``offset`` are in the store; an empty remainder is dropped."""
        with self._lock:
            self.replayed = max(self.replayed, offset)
            if self.replayed >= self.size:
                os.ftruncate(self.fd, 0)
                self.replayed = self.size = 0

    def close(self) -> None:
        if self.fd >= 0:
            if self.size == 0:
                self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = -1


def orphans(directory: Path, own: Path | None = None) -> Iterator[tuple[Path, int]]:
    """Files of replicas that died, each locked for the caller (who closes the fd)."""
    for path in sorted(directory.glob("*.spill")):
        if path == own:
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a live replica's
            continue
        if not path.exists():  # replayed and deleted by another replica meanwhile
            os.close(fd)
            continue
        yield path, fd


def entries(data: bytes) -> Iterator[tuple[dict[str, Any], int]]:
    """Each whole JSON line of ``data`` with the offset where it ends."""
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return  # a torn last line
        try:
            entry = orjson.loads(data[pos:end])
        except orjson.JSONDecodeError:
            entry = None
        pos = end + 1
        if isinstance(entry, dict):
            yield entry, pos


def read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""
