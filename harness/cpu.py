"""The harness process's own CPU: an account of where it goes, and the tuning that keeps it small.

The harness's target is its own CPU per step, apart from the model call and the
tool call (whatever the official ``openai`` and ``mcp`` clients spend inside
them). A profiler or a bench wrapped around the process cannot tell those apart
from the outside, so the harness keeps the account itself when
``FLEET_HARNESS_CPU_SPLIT=1``: the thread's CPU clock is read around each model
call (:meth:`harness.models.Models.complete`), each tool call
(:meth:`harness.mcptools.McpTools.call`) and each journal append, the time the
collector runs is summed from ``gc.callbacks``, and every ``step`` event carries
the running totals beside the process's own CPU clock::

    "cpu": {"process_ms", "model_ms", "tool_ms", "journal_ms", "gc_ms"}

The harness's own CPU between two steps is the process's minus the model's and
the tool's. Off (the default), each call costs one attribute test and the events
carry nothing more. The account is honest in one direction only: CPU of another
thread of the process (there is none on a step's path) would count as the
harness's own.

The tuning (:func:`settle`), always on, is for the collector. After start-up the
process holds ~140,000 objects of imported modules (openai, mcp, pydantic,
httpx2) that live as long as it does; every full collection walked them all
(30-100 ms of CPU each, by the machine's load).
Once the first step is done (the clients imported and built) they are moved to
the permanent generation, and the youngest generation is collected every 20,000
allocations instead of 700: a step allocates some thousands of short-lived
objects (the clients' request and answer models), nearly all gone before the
collector would look at them, and a run's conversation is bounded, so memory
stays flat (``bench/harness/README.md`` has the figures).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

ENV = "FLEET_HARNESS_CPU_SPLIT"
GEN0_THRESHOLD = 20_000
"""Allocations between two collections of the youngest generation, after :func:`settle`."""


class Split:
    """Thread CPU inside the model calls, the tool calls and the journal appends of an
    attempt, and in the collector; kept only when ``enabled``."""

    __slots__ = ("_gc_from", "enabled", "gc_ns", "journal_ns", "model_ns", "tool_ns")

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.model_ns = 0
        self.tool_ns = 0
        self.journal_ns = 0
        self.gc_ns = 0
        self._gc_from = 0
        if enabled:
            gc.callbacks.append(self._collecting)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Split:
        value = (os.environ if env is None else env).get(ENV, "")
        return cls(value.strip().lower() in ("1", "true", "yes", "on"))

    def close(self) -> None:
        if self.enabled and self._collecting in gc.callbacks:
            gc.callbacks.remove(self._collecting)

    def _collecting(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_from = time.thread_time_ns()
        elif self._gc_from:
            self.gc_ns += time.thread_time_ns() - self._gc_from
            self._gc_from = 0

    @staticmethod
    def now() -> int:
        return time.thread_time_ns()

    def fields(self) -> dict[str, Any]:
        """What a ``step`` event carries: nothing when off."""
        if not self.enabled:
            return {}
        ms = 1e-6
        return {
            "cpu": {
                "process_ms": round(time.process_time_ns() * ms, 4),
                "model_ms": round(self.model_ns * ms, 4),
                "tool_ms": round(self.tool_ns * ms, 4),
                "journal_ms": round(self.journal_ns * ms, 4),
                "gc_ms": round(self.gc_ns * ms, 4),
            }
        }


_settled = False


def settle() -> None:
    """Once per process, when start-up is over: what is alive now lives as long as the
    process, so the collector stops walking it; young objects are collected less often."""
    global _settled
    if _settled:
        return
    _settled = True
    # No collection first: it would cost ~30 ms once, to free the little cyclic garbage
    # start-up leaves, which may as well stay.
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
