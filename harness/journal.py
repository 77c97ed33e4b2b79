"""Replay-then-continue: every step with an outside result goes through :meth:`Journal.record`.

A step already in the journal returns its stored entry, without calling
anything; past the end of the journal the step runs live and its entry is
appended (and acknowledged by the gateway) before the step returns. The harness
is deterministic given these results, so re-running it from the top on a
resumed run walks the stored steps in order, rebuilds every conversation
exactly, and goes on live at the first unfinished step. A stored step of
another kind or scope than the one reached means the code or the definition
changed under the run: :class:`Nondeterminism`.

Fault injection for the crash tests: with ``FLEET_HARNESS_KILL_AFTER=SEQ`` the
process sends itself SIGKILL right after the gateway acknowledged entry SEQ,
the sharpest "between two steps" there is; with ``FLEET_HARNESS_KILL_BEFORE=SEQ``
right before it sends entry SEQ, when the step's model reply or tool result is
in hand and not yet stored.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.cpu import Split
from harness.errors import Nondeterminism
from harness.runs import Runs

Live = Callable[[], Awaitable[dict[str, Any]]]


class Journal:
    def __init__(
        self, runs: Runs, entries: list[dict[str, Any]], attempt: int, split: Split | None = None
    ):
        self.runs = runs
        self.split = split or Split()
        self.entries = entries
        self.attempt = attempt
        self.next = 1
        self.started = time.monotonic()
        # Active time of earlier attempts: the last entry time of each.
        last: dict[int, float] = {}
        for e in entries:
            a = int(e.get("attempt") or 0)
            last[a] = max(last.get(a, 0.0), float(e.get("t") or 0.0))
        self.prior_active_s = sum(t for a, t in last.items() if a != attempt)
        self.patch: Callable[[], dict[str, Any]] = dict
        after = os.environ.get("FLEET_HARNESS_KILL_AFTER", "")
        before = os.environ.get("FLEET_HARNESS_KILL_BEFORE", "")
        self.kill_after = int(after) if after.isdigit() else None
        self.kill_before = int(before) if before.isdigit() else None

    @property
    def replaying(self) -> bool:
        return self.next <= len(self.entries)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def peek(self) -> dict[str, Any] | None:
        return self.entries[self.next - 1] if self.replaying else None

    def _take(self, kind: str, scope: str) -> dict[str, Any]:
        entry = self.entries[self.next - 1]
        if entry.get("kind") != kind or entry.get("scope") != scope:
            raise Nondeterminism(
                f"journal entry {self.next} is a {entry.get('kind')} step of "
                f"{entry.get('scope')}, but replaying reached a {kind} step of {scope}: the "
                "definition or the harness changed under this run"
            )
        self.next += 1
        return entry

    async def record(self, kind: str, scope: str, live: Live) -> dict[str, Any]:
        if self.replaying:
            return self._take(kind, scope)
        fields = await live()
        return await self.append(kind, scope, fields)

    async def append(self, kind: str, scope: str, fields: dict[str, Any]) -> dict[str, Any]:
        entry = {
            "seq": self.next,
            "kind": kind,
            "scope": scope,
            "attempt": self.attempt,
            "t": round(self.elapsed(), 4),
            **fields,
        }
        if self.kill_before == entry["seq"]:
            os.kill(os.getpid(), signal.SIGKILL)
        split = self.split
        t = split.now() if split.enabled else 0
        await self.runs.append(entry, self.patch())
        if t:
            split.journal_ns += split.now() - t
        self.entries.append(entry)
        self.next += 1
        if self.kill_after == entry["seq"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return entry
