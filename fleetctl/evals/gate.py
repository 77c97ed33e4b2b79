"""The promotion gate: may a staging loop's pins replace its production loop's?

``fleetctl promote`` asks this module, and only it: the staging loop's pins
are run on the production loop's eval cases beside the production pins (the
baseline, computed in the same run), and the gate passes when no case that
passes on production fails or errors on the candidate. ``report`` is exactly
what ``fleetctl eval -o json`` writes, ``table`` what it prints.

Errors the user can fix (the fleet, the loop, a case file) raise
:class:`fleetctl.local.errors.LocalError` (a :class:`~fleetctl.evals.runner.CaseError`
carries located diagnostics); nothing else is raised on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.evals.report import table as render_table
from fleetctl.evals.runner import EvalRequest, evaluate, pair
from fleetctl.local.errors import LocalError
from fleetctl.local.home import load_fleet

__all__ = ["Gate", "gate"]


@dataclass(frozen=True)
class Gate:
    """The gate's answer: ``passed`` unless ``regressed`` names a case."""

    passed: bool
    regressed: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    table: str = ""


def gate(
    fleet_root: Path, staging_loop: str, *, provider: str | None = None, jobs: int | None = None
) -> Gate:
    """Evaluate ``staging_loop`` (a loop with ``promotes_to:``) against the loop it promotes to."""
    fleet = load_fleet(fleet_root)
    production, twin = pair(fleet, staging_loop)
    if twin is None or twin["metadata"]["name"] != staging_loop:
        raise LocalError(
            f"loop {staging_loop} is not a staging loop (it has no promotes_to:)",
            f"name the staging twin of {production['metadata']['name']}"
            if twin is not None
            else "add promotes_to: <production loop> to a staging loop",
        )
    report = evaluate(
        EvalRequest(fleet_root, production["metadata"]["name"], "candidate", provider, jobs),
        fleet=fleet,
    )
    return Gate(
        passed=bool(report["passed"]),
        regressed=list(report["regressions"]),
        report=report,
        table=render_table(report),
    )
