"""A copy of northwind with extra cases that fail, error and leave a judge without a verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

CASES = "evals/bug-report-triage"
HEAD = "# yaml-language-server: $schema=../../../../schemas/eval-case.schema.json\n"

# The maker reads an issue the recording does not have.
UNRECORDED = (
    HEAD
    + """\
description: the loop reads an issue nobody recorded
tools:
  - { call: github__get_issue, arguments: { number: 41 }, result: "#41 Dark mode legend" }
model:
  default: transcripts/unrecorded.replay.yaml
expect:
  outcome: done
"""
)
UNRECORDED_T = """\
replay: unrecorded
tracks:
  bug-report-triage:
    - tool_calls: [{ name: github__get_issue, arguments: { number: 99 } }]
    - tool_calls: [{ name: finish, arguments: { summary: "nothing to do" } }]
  bug-report-triage/reviewer:
    - tool_calls: [{ name: verdict, arguments: { verdict: pass, reasons: [fine] } }]
"""
# Runs to done, and every assertion but the outcome is wrong.
WRONG = (
    HEAD
    + """\
description: everything asserted is wrong
tools:
  - { call: github__get_issue, arguments: { number: 41 }, result: "#41 Dark mode legend" }
model:
  default: transcripts/wrong.replay.yaml
expect:
  outcome: done
  verdict: fail
  max_steps: 1
  called: [{ tool: github__add_label }]
  not_called: [github__get_issue]
  answer: [{ contains: "#41" }]
  state: [{ json_path: $.last_seen, equals: 41 }]
"""
)
WRONG_T = """\
replay: wrong
tracks:
  bug-report-triage:
    - tool_calls: [{ name: github__get_issue, arguments: { number: 41 } }]
    - tool_calls: [{ name: finish, arguments: { summary: "nothing to do" } }]
  bug-report-triage/reviewer:
    - tool_calls: [{ name: verdict, arguments: { verdict: pass, reasons: [fine] } }]
"""
# The judge answers in prose: no verdict, a failure.
NO_VERDICT = (
    HEAD
    + """\
description: a judge that does not give a verdict
model:
  default: transcripts/no-verdict.replay.yaml
expect:
  outcome: done
  rubric: { judge: cheap-backup, criteria: "says what it did" }
"""
)
NO_VERDICT_T = """\
replay: no verdict
tracks:
  bug-report-triage:
    - tool_calls: [{ name: finish, arguments: { summary: "nothing new to triage" } }]
  bug-report-triage/reviewer:
    - tool_calls: [{ name: verdict, arguments: { verdict: pass, reasons: [fine] } }]
  bug-report-triage/judge:
    - content: Looks reasonable to me.
"""
EXTRA = {
    "unrecorded.yaml": UNRECORDED,
    "transcripts/unrecorded.replay.yaml": UNRECORDED_T,
    "wrong.yaml": WRONG,
    "transcripts/wrong.replay.yaml": WRONG_T,
    "no-verdict.yaml": NO_VERDICT,
    "transcripts/no-verdict.replay.yaml": NO_VERDICT_T,
}


def northwind_copy(dest: Path, extra: dict[str, str] | None = None) -> Path:
    root = dest / "northwind"
    shutil.copytree(EXAMPLES / "northwind", root, ignore=shutil.ignore_patterns("demo", ".fleet"))
    for rel, text in (extra or {}).items():
        (root / CASES / rel).write_text(text)
    return root


@pytest.fixture(scope="module")
def fleet_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return northwind_copy(tmp_path_factory.mktemp("evals"), EXTRA)
