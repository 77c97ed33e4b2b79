"""Folding the SQLite store's journal into its database, in a process of its own.

The gateway appends settlements to the journal (:mod:`gateway.store.journal`)
and starts this process, ``python -m gateway.store.fold DATABASE``, to commit
them to the database in batches. In a process of its own the fold shares no
interpreter lock with the event loop, and it runs at idle priority
(``SCHED_IDLE``): when a request arrives while it is committing, the kernel
hands the core back to the gateway at once, so a commit never sits in front
of a request even when the gateway is pinned to a single core. When that core
is busy all the time the fold waits and the journal grows on disk; the fold
catches up once the core has time, and readers add what it has not applied
yet (``fleetctl cost`` and ``runs`` read the journal too).

The process reads the journal from where it left off every ``--interval``
seconds, commits what is new in transactions of at most ``BATCH`` records (the
database remembers the last record applied, so no record is applied twice),
deletes the segments the gateway has moved on from once their records are
applied, and folds the write-ahead log into the database file every
``--checkpoint`` seconds when it has committed since. It talks to the
gateway on its standard input: ``close`` asks it to fold the rest and exit;
end of file means the gateway died, and it exits at once, leaving the rest to
the next owner's replay.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from gateway.store import journal
from gateway.store.journal import Record
from gateway.store.projection import ADD_DAYS, INSERT_TRACE, day_rows, project_body

log = logging.getLogger("fleet.gateway.store")

# Records per transaction: a backlog (the fold waits while the gateway keeps its core
# busy) is caught up in steps of bounded memory and bounded write-ahead log.
BATCH = 2048
# Bytes of a segment read at a time (more when one record is larger).
CHUNK = 1 << 20


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection in WAL mode that leaves checkpoints to a timer (the fold process's,
    or the store's when no fold process runs)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")
    # Checkpoints fsync the database file: never on a commit in the request path.
    db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def applied_in(db: sqlite3.Connection) -> int:
    """The sequence number of the last journal record the database holds."""
    return int(db.execute("SELECT applied FROM journal WHERE id = 1").fetchone()[0])


def commit(db: sqlite3.Connection, records: list[Record], *, tracked: bool) -> None:
    """One transaction for ``records``. ``tracked`` ones are journal records: those
    the database already holds are skipped, and the last one applied is remembered."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if tracked:
            applied = applied_in(db)
            records = [r for r in records if r.seq > applied]
        now = time.time()
        spend: dict[str, float] = {}
        rate: dict[tuple[str, int], list[int]] = {}
        runs: dict[tuple[str, str], list[int]] = {}
        traces: list[tuple[Any, ...]] = []
        for r in records:
            for key, usd in r.spend:
                spend[key] = spend.get(key, 0.0) + usd
            for loop, minute, requests, tokens in r.rate:
                row = rate.setdefault((loop, minute), [0, 0])
                row[0] += requests
                row[1] += tokens
            for loop, run, steps, tokens in r.runs:
                row = runs.setdefault((loop, run), [0, 0])
                row[0] += steps
                row[1] += tokens
            if r.trace is not None:
                # Projected here, off the request path: cost and doctor sum these columns.
                traces.append((*r.trace, r.body, *project_body(r.body)))
        if spend:
            db.executemany(
                "INSERT INTO spend (key, usd, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET usd = usd + excluded.usd, updated = excluded.updated",
                [(k, v, now) for k, v in spend.items()],
            )
        if rate:
            db.executemany(
                "INSERT INTO rate (loop, minute, requests, tokens) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(loop, minute) DO UPDATE SET requests = requests + excluded.requests, tokens = tokens + excluded.tokens",
                [(*k, *v) for k, v in rate.items()],
            )
        if runs:
            db.executemany(
                "INSERT INTO runs (loop, run, steps, tokens, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(loop, run) DO UPDATE SET steps = steps + excluded.steps, tokens = tokens + excluded.tokens, updated = excluded.updated",
                [(*k, *v, now) for k, v in runs.items()],
            )
        if traces:
            db.executemany(INSERT_TRACE, traces)
            db.executemany(ADD_DAYS, day_rows(traces))
        if tracked and records:
            db.execute(
                "UPDATE journal SET applied = ? WHERE id = 1", (max(r.seq for r in records),)
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class Folder:
    """Reads each segment from where the last pass stopped and commits what is new."""

    def __init__(self, database: str, synchronous: str = "normal"):
        self.directory = Path(database + ".journal")
        self.db = connect(database, synchronous)
        self.applied = applied_in(self.db)
        self._read: dict[Path, int] = {}  # bytes of each segment parsed so far

    def step(self, limit: int = BATCH) -> int:
        """One pass: commit up to ``limit`` records not applied yet, then delete the
        segments the gateway has moved on from and this pass read to the end. Returns
        how many records it committed."""
        found = journal.segments(self.directory)
        records: list[Record] = []
        done: list[Path] = []
        present = {path for _, path in found}
        read = {path: at for path, at in self._read.items() if path in present}
        for i, (_, path) in enumerate(found):
            if len(records) >= limit:
                break
            start = self._read.get(path, 0)
            try:
                with path.open("rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    f.seek(start)
                    data = f.read(CHUNK)
                    if len(data) == CHUNK and next(journal.parse_ends(data), None) is None:
                        # One record larger than a chunk: read the whole of it.
                        meta, body, _, _ = journal.HEADER.unpack_from(data)
                        data += f.read(journal.HEADER.size + meta + body - len(data))
            except FileNotFoundError:  # deleted by a replay; its records were applied
                read.pop(path, None)
                continue
            used = 0
            for record, end in journal.parse_ends(data):
                if record.seq > self.applied:
                    records.append(record)
                used = end
                if len(records) >= limit:
                    break
            read[path] = start + used
            closed = i < len(found) - 1  # the gateway opened a newer one: this one is whole
            if start + used == size:
                if closed:
                    done.append(path)
                continue
            if not closed or len(records) >= limit or start + len(data) < size:
                break  # the rest in the next pass
            log.warning(
                "journal: %s ends in %d byte(s) that are no record; skipped",
                path,
                size - start - used,
            )
            done.append(path)
        if records:
            commit(self.db, records, tracked=True)
            self.applied = max(self.applied, records[-1].seq)
        self._read = read  # only once committed: a failed pass reads the same bytes again
        for path in done:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # kept, and skipped by the next owner's replay
                log.warning("journal: could not delete %s: %s", path, exc)
            self._read.pop(path, None)
        return len(records)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (without waiting for readers)."""
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.db.close()


def lower_priority() -> None:
    """Idle priority: any other task that wants the core gets it first."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the lowest nice value instead
        os.nice(19)


def run(database: str, synchronous: str, interval: float, checkpoint: float, control: int) -> int:
    """Fold every ``interval`` seconds until ``close`` (fold the rest, exit 0) or end
    of file on ``control`` (the gateway died: exit 0 at once)."""
    folder = Folder(database, synchronous)
    dirty = False
    last_checkpoint = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([control], [], [], interval)
            if ready:
                message = os.read(control, 64)
                if not message:
                    return 0
                if b"close" in message:
                    while folder.step():
                        pass
                    folder.checkpoint()
                    return 0
            for attempt in range(5):
                try:
                    n = folder.step()
                    dirty = dirty or n > 0
                    while n == BATCH:  # a backlog: the next batch at once
                        n = folder.step()
                    if dirty and time.monotonic() - last_checkpoint >= checkpoint:
                        folder.checkpoint()
                        dirty, last_checkpoint = False, time.monotonic()
                    break
                except sqlite3.Error as exc:
                    # The records stay in the journal: the next pass, or the next owner, applies them.
                    log.warning("journal: applying records failed: %s", exc)
                    time.sleep(0.05 * 2**attempt)
    finally:
        folder.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.store.fold", description=__doc__)
    parser.add_argument("database")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--checkpoint", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    lower_priority()
    return run(args.database, args.synchronous, args.interval, args.checkpoint, sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main())
