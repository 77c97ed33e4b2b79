"""Issue 16's fuzz proof, a fixed-seed slice of it: ``bench/fuzz_gateway.py`` against a
real gateway on loopback (its own process, its log read for tracebacks), in front
of the scripted provider and the fake github MCP server, with ``/healthz`` polled
throughout. The full run (20,000 cases) is the bench script's; these are a few
hundred of the same cases.

The surfaces that hold today are asserted strictly. The chat path (bodies, and
raw framing on the wire) still answers a message whose ``role`` is not a string
with a 500 and a traceback: that class is open, and the test for it is marked
as expected to fail until it is fixed, so the run shows when it is.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from bench.fuzz_gateway import Report, fuzz
from bench.fuzz_surfaces import SURFACES

CHAT = ("chat", "wire")
HOLDING = tuple(s for s in SURFACES if s not in CHAT)


def summary(report: Report) -> str:
    """The report as the bench script prints it, for the assertion message."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report.print()
    return out.getvalue()


@pytest.mark.timeout(90)
def test_every_surface_but_chat_answers_without_5xx_or_traceback() -> None:
    report = fuzz(350, 16, HOLDING, quiet=True)
    assert report.cases == 350
    # Every surface was reached, and most cases got past the router to a real answer.
    assert {label.split()[0] for label in report.by_surface} >= {
        "mcp",
        "approvals",
        "runs",
        "trigger",
        "models",
        "ops",
        "unknown",
    }
    assert sum(report.fives.values()) == 0, summary(report)
    assert sum(report.tracebacks.values()) == 0, summary(report)
    assert not report.failures, summary(report)
    assert report.health is not None and report.health.polls > 0 and report.health.misses == 0


@pytest.mark.timeout(90)
@pytest.mark.xfail(
    strict=False,
    reason="open: a chat message whose role is not a string ({'role': []}) answers 500 with a traceback",
)
def test_the_chat_path_answers_without_5xx_or_traceback() -> None:
    report = fuzz(150, 16, CHAT, quiet=True)
    assert report.cases == 150
    assert sum(report.fives.values()) == 0, summary(report)
    assert sum(report.tracebacks.values()) == 0, summary(report)
    assert not report.failures, summary(report)
    assert report.health is not None and report.health.misses == 0
