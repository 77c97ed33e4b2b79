"""Is the loop getting anywhere? Stall detection and the run's bounds.

A stall is ``stall_after`` maker steps in a row without progress. A step makes
progress when one of its tool calls returns a result not seen before in the
run (the same tool, the same arguments and the same result again is not new)
or the loop's state changes. A reply with no tool call makes none. Fed from
the journal, so a resumed run counts the steps before the crash too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from fleet.runtime.definition import Bounds
from fleet.runtime.outcomes import Outcome


def fingerprint(name: str, arguments: Any, result: Any) -> str:
    """A tool call and its result, canonically: equal when all three are equal."""
    blob = orjson.dumps([name, arguments, result], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass
class StallDetector:
    after: int
    seen: set[str] = field(default_factory=set)
    quiet: int = 0
    """Maker steps in a row without progress."""
    _progress: bool = False

    def observe(self, fp: str) -> None:
        """A tool result of the current step."""
        if fp not in self.seen:
            self.seen.add(fp)
            self._progress = True

    def state_changed(self) -> None:
        self._progress = True

    def end_step(self) -> bool:
        """Close the current step; True when the loop has now stalled."""
        self.quiet = 0 if self._progress else self.quiet + 1
        self._progress = False
        return self.quiet >= self.after


@dataclass
class Usage:
    """What the run has used, counted over every attempt and resume."""

    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    active_s: float = 0.0

    def add(self, tokens: int, cost_usd: float) -> None:
        self.steps += 1
        self.tokens += tokens
        self.cost_usd += cost_usd


def over(bounds: Bounds, usage: Usage, elapsed_s: float = 0.0) -> tuple[Outcome, str] | None:
    """The bound a run has reached before its next model call, with why; None to go on."""
    if usage.steps >= bounds.max_steps:
        return "max_steps", f"the run used its {bounds.max_steps} steps"
    if usage.tokens >= bounds.max_tokens:
        return "max_tokens", f"the run used {usage.tokens:,} of its {bounds.max_tokens:,} tokens"
    if usage.active_s + elapsed_s >= bounds.max_run_s:
        return "timeout", f"the run ran for its {bounds.max_run_s / 60:g} minutes"
    return None
