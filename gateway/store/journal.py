"""The SQLite store's settlement journal: an append-only log in front of the database.

A settlement (spend, rate and run counters, the trace) is one framed record,
appended with a single ``write`` to the current segment before the request's
response is finished. Once ``write`` returns the record is in the kernel's
hands, so ``kill -9`` cannot lose it; that costs a few microseconds on the
event loop, where a SQLite transaction costs about a hundred and handing it to
a thread about as much again. A background thread folds records into the
database in batches and deletes the segments it has fully applied; the
database remembers the last record applied, so replaying a record twice is
impossible.

Layout: ``<database>.journal/`` (SQLite keeps ``<database>-journal`` for itself) holds ``lock`` and segments named by the
sequence number of their first record. One process owns the journal (an
exclusive ``flock`` on ``lock``, released by the kernel when it dies): it
appends, applies and, when it opens, replays what a killed owner left.
Other processes on the same database only read: they add the records not
applied yet to what they read from the database. A gateway must own it
(:func:`claim`): one whose journal another process holds past a short wait
refuses to start, for the two would each hold their budgets' reservations alone.

Record: a 20-byte header (meta length, body length, CRC-32 of both, sequence
number) then ``meta`` (JSON: spend, rate, run and trace-index rows) and
``body`` (the trace's JSON, possibly empty). A torn or corrupt record ends
its segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.store.base import StoreInUse

HEADER = struct.Struct("<IIIQ")
SEGMENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One settlement: rows ready for the database's upserts."""

    seq: int
    spend: list[list[Any]]  # [key, usd]
    rate: list[list[Any]]  # [loop, minute, requests, tokens]
    runs: list[list[Any]]  # [loop, run, steps, tokens]
    trace: list[Any] | None  # [ts, loop, run, kind], the body being ``body``
    body: bytes

    def frame(self) -> bytes:
        meta = orjson.dumps([self.spend, self.rate, self.runs, self.trace])
        crc = zlib.crc32(self.body, zlib.crc32(meta))
        return HEADER.pack(len(meta), len(self.body), crc, self.seq) + meta + self.body


def parse(data: bytes) -> Iterator[Record]:
    """The records of one segment's bytes, up to the first torn or corrupt one."""
    for record, _ in parse_ends(data):
        yield record


def parse_ends(data: bytes) -> Iterator[tuple[Record, int]]:
    """Each record of ``data`` with the offset where it ends, up to the first torn or
    corrupt one (the folder resumes a segment from the last record's end)."""
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        meta_len, body_len, crc, seq = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        stop = start + meta_len + body_len
        if stop > end:
            return
        meta = data[start : start + meta_len]
        body = data[start + meta_len : stop]
        if zlib.crc32(body, zlib.crc32(meta)) != crc:
            return
        try:
            spend, rate, runs, trace = orjson.loads(meta)
        except orjson.JSONDecodeError:
            return
        yield Record(seq, spend, rate, runs, trace, bytes(body)), stop
        pos = stop


def segments(directory: Path) -> list[tuple[int, Path]]:
    """(first sequence number, path) of every segment, oldest first."""
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if name.endswith(".seg") and name[:-4].isdigit():
            found.append((int(name[:-4]), directory / name))
    return sorted(found)


def read(directory: Path, after: int) -> Iterator[Record]:
    """Every intact record with a sequence number above ``after``, in order.

    Safe while the owner appends and deletes: a segment deleted meanwhile held
    only applied records, and a record being written is torn and not read."""
    for _, path in segments(directory):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for record in parse(data):
            if record.seq > after:
                yield record


class Journal:
    """The owner's side: the lock, the current segment and rotation."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.fd = -1
        self.path: Path | None = None
        self.size = 0

    def acquire(self, role: str = "writer") -> bool:
        """Become the owner; False when a live process already is. The lock file then
        names the owner (``<pid> <role>``), for the error a second gateway prints."""
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(OSError):  # the name is for people; the lock is the flock
            os.ftruncate(self._lock, 0)
            os.pwrite(self._lock, f"{os.getpid()} {role}\n".encode(), 0)
        return True

    def owner(self) -> tuple[int, str] | None:
        """(pid, role) the owner wrote in the lock file, when it did."""
        try:
            pid, _, role = os.pread(self._lock, 64, 0).decode().strip().partition(" ")
            return int(pid), role
        except (OSError, ValueError):
            return None

    def open_segment(self, first_seq: int) -> Path | None:
        """Start a new segment; returns the one it closes, if any."""
        closed = self.path
        if self.fd >= 0:
            os.close(self.fd)
        self.path = self.directory / f"{first_seq:020d}.seg"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = 0
        return closed

    def append(self, frame: bytes) -> None:
        written = os.write(self.fd, frame)
        while written < len(frame):  # a regular file takes it all at once; be exact anyway
            written += os.write(self.fd, frame[written:])
        self.size += len(frame)

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        os.close(self._lock)


# How long a gateway waits for another process to let go of the store before refusing.
STORE_WAIT_ENV = "FLEET_GATEWAY_STORE_WAIT_S"
STORE_WAIT_S = 15.0


def claim(directory: Path, segment_bytes: int, path: str) -> Journal:
    """The journal of the database at ``path``, owned (waiting up to
    ``FLEET_GATEWAY_STORE_WAIT_S`` for another process to let go), or
    :class:`~gateway.store.base.StoreInUse` naming the process that holds it."""
    owned = Journal(directory, segment_bytes)
    try:
        wait = float(os.environ.get(STORE_WAIT_ENV, STORE_WAIT_S))
    except ValueError:
        wait = STORE_WAIT_S
    deadline = time.monotonic() + wait
    while not owned.acquire():
        if time.monotonic() >= deadline:
            holder = owned.owner()
            owned.close()
            who = f"process {holder[0]} ({holder[1]})" if holder else "another process"
            raise StoreInUse(
                f"the SQLite store {path} is in use by {who}: a SQLite store serves one "
                "gateway process, which holds its budgets' reservations in memory",
                "run one gateway per SQLite file; replicas share budgets through "
                "--store redis://HOST:PORT/DB",
            )
        time.sleep(0.1)
    return owned
