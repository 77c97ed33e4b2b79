"""The SQLite store's write side: settlements through the journal, folded by a process of its own.

A settlement is one journal record appended with a single ``write`` before its
response is finished (fsynced, in groups, in full mode); the fold process
(:mod:`gateway.store.fold`) started with the first settlement commits the
records to the database off the request path. Without the journal (in memory,
or another process owns it) each event-loop turn's settlements are committed in
one transaction instead. Opening the journal replays what a killed owner left.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from typing import Any

from gateway.store import encode, journal
from gateway.store.base import Settlement
from gateway.store.fold import applied_in, commit, connect
from gateway.store.journal import Record
from gateway.store.sqlite_counters import SqliteCounters
from gateway.store.sqlite_state import reach

log = logging.getLogger("fleet.gateway.store")


def _ts(value: Any) -> float:
    """A trace's time as the index holds it (now, when the trace has none usable)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e11:
        return float(value)
    return time.time()


def _text(value: Any) -> str | None:
    """An indexed trace field: a string, or None."""
    return value if isinstance(value, str) or value is None else None


Pending = list[tuple[Settlement, Record, "asyncio.Future[dict[str, float]]"]]


class SqliteJournal(SqliteCounters):
    @reach
    async def settle(self, s: Settlement) -> dict[str, float]:
        """Durable on return: appended to the journal (fsynced in full mode), or, without
        the journal, committed with the rest of this event-loop turn's settlements."""
        if self.journal is None:
            return await self._settle_inline(s)
        self._seq += 1
        frame = self._record(s, self._seq).frame()
        if self.journal.size and self.journal.size + len(frame) > self.journal.segment_bytes:
            if self.full:
                self.journal.sync()
            self.journal.open_segment(self._seq)
            self._watch_folder()
        self.journal.append(frame)
        if self.folder is None:
            self._start_folder()
        if self.full:
            await self._synced()
        return self._absorb(s)

    def _start_folder(self) -> None:
        # Its standard input is its lifeline: end of file there means this process is gone.
        # A process group of its own: Ctrl-C in a terminal interrupts the gateway, which
        # then closes it the usual way, and not the fold process in the middle of a commit.
        # Not a session of its own: with the kernel's autogroups a new session is a new
        # group that shares the core fairly with the gateway's, whatever its priority.
        self.folder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.store.fold",
                self.path,
                "--synchronous",
                "full" if self.full else "normal",
                "--interval",
                str(self.apply_interval),
            ],
            stdin=subprocess.PIPE,
            process_group=0,
        )

    def _watch_folder(self) -> None:
        """Start the fold process again if it died (it logged why on stderr)."""
        if self.folder is not None and self.folder.poll() is not None:
            log.warning(
                "journal: the fold process exited (%s); starting it again", self.folder.returncode
            )
            self._start_folder()

    def applied(self) -> int:
        """The last journal record the database holds."""
        return applied_in(self.db)

    def unapplied(self) -> int | None:
        """Journal records the database does not hold yet; None when this store does
        not own the journal. A count that keeps growing means the fold process is
        starved of CPU or failing (it logs why)."""
        return self._seq - applied_in(self.db) if self.journal is not None else None

    def _record(self, s: Settlement, seq: int) -> Record:
        """The settlement as journal rows, with the request and step counts gathered since
        the last one. Nothing in ``s`` can make this fail: a trace orjson refuses is
        encoded cleaned (:mod:`gateway.store.encode`), and it is encoded before the
        gathered counts are taken, so they are never lost with it."""
        head = None
        body = b""
        if s.trace:
            t = s.trace
            head = [
                _ts(t.get("ts")),
                _text(t.get("loop")),
                _text(t.get("run")),
                _text(t.get("kind", "llm")),
            ]
            body = encode.dumps(t)
        hits, self._hits = self._hits, {}
        steps, self._steps = self._steps, {}
        rate = {k: [v, 0] for k, v in hits.items()}
        runs = {k: [v, 0] for k, v in steps.items()}
        if s.tokens:
            rate.setdefault((s.loop, s.minute), [0, 0])[1] += encode.count(s.tokens)
        if s.run is not None and s.run_tokens:
            runs.setdefault((s.loop, s.run), [0, 0])[1] += encode.count(s.run_tokens)
        cost = encode.usd(s.cost)
        spend = [[k.key, cost] for k in s.reservation.keys] if s.reservation else []
        return Record(
            seq,
            spend,
            [[k[0], k[1], *v] for k, v in rate.items()],
            [[k[0], k[1], *v] for k, v in runs.items()],
            head,
            body,
        )

    def _absorb(self, s: Settlement) -> dict[str, float]:
        """Once a settlement is durable: fold it into the in-memory mirrors."""
        keys = s.reservation.keys if s.reservation is not None else []
        held = s.reservation.amount if s.reservation is not None else 0.0
        for k in keys:
            self._spent[k.key] = self._spent_of(k.key) + s.cost
            self._reserved[k.key] = max(0.0, self._reserved.get(k.key, 0.0) - held)
        if s.tokens:
            self._rate_row(s.loop, s.minute)[1] += s.tokens
        if s.run is not None and s.run_tokens:
            row = self._run_row(s.loop, s.run)
            row[1] += s.run_tokens
            row[2] = self._seq
        return {k.key: self._spent[k.key] for k in keys}

    async def _synced(self) -> None:
        """Wait for an fsync of the journal; one fsync serves every record written before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._syncs.append(future)
        if self._syncing is None or self._syncing.done():
            self._syncing = loop.create_task(self._sync_loop())
        await future

    async def _sync_loop(self) -> None:
        assert self.journal is not None
        while self._syncs:
            waiters, self._syncs = self._syncs, []
            try:
                await asyncio.to_thread(self.journal.sync)
            except OSError as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def _settle_inline(self, s: Settlement) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, float]] = loop.create_future()
        self._pending.append((s, self._record(s, 0), future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        try:
            commit(self.db, [r for _, r, _ in batch], tracked=False)
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for s, _, future in batch:
            result = self._absorb(s)
            if not future.done():
                future.set_result(result)

    # ---------------------------------------------------------------- the journal

    def _recover(self) -> int:
        """Apply what a killed owner left in the journal; returns the last record applied."""
        assert self.journal_dir is not None
        # Its own connection, in the store's synchronous mode, closed once done.
        db = connect(self.path, "FULL" if self.full else "NORMAL")
        try:
            found = journal.segments(self.journal_dir)
            for _, path in found:
                records = list(journal.parse(path.read_bytes()))
                if records:
                    commit(db, records, tracked=True)
            applied = applied_in(db)
        finally:
            db.close()
        if found:
            log.info("journal: replayed %d segment(s), up to record %d", len(found), applied)
        for _, path in found:
            path.unlink(missing_ok=True)
        return applied

    # ---------------------------------------------------------------- traces

    async def write_trace(self, record: dict[str, Any]) -> None:
        """Durable on return: a journal record like a settlement's."""
        await self.settle(
            Settlement(None, 0.0, str(record.get("loop") or ""), 0, 0, None, 0, record)
        )

    @staticmethod
    def _stop_folder(folder: subprocess.Popen[bytes]) -> None:
        """Ask the fold process to fold the rest and wait for it; what it could not fold
        stays in the journal for the next owner."""
        assert folder.stdin is not None
        try:
            folder.stdin.write(b"close\n")
            folder.stdin.close()
            if folder.wait(timeout=60):
                log.warning("journal: the fold process exited with %s", folder.returncode)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("journal: the fold process did not finish: %s", exc)
            folder.kill()
            folder.wait()
