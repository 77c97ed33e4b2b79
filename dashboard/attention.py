"""The needs-attention panel's source: findings about loops, from whatever computes them.

The fleet's lifecycle checks (a deprecated model, a missed heartbeat, runs without a
useful outcome, a checker that always passes) belong to the core; the dashboard only
shows them. It asks a :class:`FindingSource` and renders what it gets, so the panel
works with any implementation, and with none (:func:`no_findings`, the panel then says
that no checks are connected). :func:`doctor_findings` is ``fleetctl doctor``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dashboard.snapshot import Snapshot


@dataclass(frozen=True)
class Finding:
    loop: str
    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    hint: str = ""


# (the loaded fleet, what was read of the store: its window's runs and calls) → findings
FindingSource = Callable[[Any, Snapshot], list[Finding]]


def no_findings(loaded: Any, snap: Snapshot) -> list[Finding]:
    return []


def doctor_findings(loaded: Any, snap: Snapshot) -> list[Finding]:
    """``fleetctl doctor``'s findings (:func:`fleet.doctor.diagnose_sums`, default
    thresholds) from the store's sums of the window read, which begins at ``snap.since``."""
    from dashboard.sums import of_records
    from fleet.doctor import diagnose_sums

    s = snap.sums or of_records(snap.calls, snap.runs, snap.since, snap.now)
    agents = [a.agent for a in loaded.agents]
    found = diagnose_sums(
        loaded.fleet, agents, s.heads, s.spend, s.wrote, now=snap.now, since=snap.since
    )
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
