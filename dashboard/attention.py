"""The needs-attention panel's source: findings about loops, from whatever computes them.

The fleet's lifecycle checks (a deprecated model, a missed heartbeat, runs without a
useful outcome, a checker that always passes) belong to the core; the dashboard only
shows them. It asks a :class:`FindingSource` and renders what it gets, so the panel
works with any implementation, and with none (:func:`no_findings`, the panel then says
that no checks are connected). :func:`doctor_findings` is ``fleetctl doctor``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Finding:
    loop: str
    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    hint: str = ""


# (the loaded fleet, run records of the window, per-call traces of the window, now) → findings
FindingSource = Callable[
    [Any, Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]], float], list[Finding]
]


def no_findings(
    fleet: Any, runs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]], now: float
) -> list[Finding]:
    return []


def doctor_findings(
    loaded: Any, runs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]], now: float
) -> list[Finding]:
    """``fleetctl doctor``'s findings (:func:`fleet.doctor.diagnose`, default thresholds)."""
    from fleet.doctor import diagnose

    found = diagnose(loaded.fleet, [a.agent for a in loaded.agents], runs, calls, now=now)
    return [
        Finding(
            f.loop,
            "error" if f.level == "error" else "warning" if f.level == "warning" else "info",
            f.check,
            f.evidence,
            f.action,
        )
        for f in found
    ]
