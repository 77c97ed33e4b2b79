"""Issue 16's fuzz proof, a fixed-seed slice of it: ``bench/fuzz_gateway.py`` against a
real gateway on loopback (its own process, its log read for tracebacks), in front
of the scripted provider and the fake github MCP server, with ``/healthz`` polled
throughout. The full run (20,000 cases) is the bench script's; these are 500 of
the same cases, on every surface.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from bench.fuzz_gateway import Report, fuzz
from bench.fuzz_surfaces import SURFACES


def summary(report: Report) -> str:
    """The report as the bench script prints it, for the assertion message."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report.print()
    return out.getvalue()


@pytest.mark.timeout(90)
def test_every_surface_answers_without_5xx_or_traceback() -> None:
    report = fuzz(500, 16, SURFACES, quiet=True)
    assert report.cases == 500
    reached = {label.split()[0] for label in report.by_surface}
    assert reached >= {*SURFACES, "approvals"}, sorted(reached)
    assert sum(report.fives.values()) == 0, summary(report)
    assert sum(report.tracebacks.values()) == 0, summary(report)
    assert not report.failures, summary(report)
    assert report.health is not None and report.health.polls > 0 and report.health.misses == 0
