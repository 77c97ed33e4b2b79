"""``fleetctl validate`` reads the eval cases too: a table of broken northwind cases, each
reported once with its file:line:col, field path, hint and rule id, and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetctl.cli import app
from tests.evals.conftest import CASES, EXTRA, HEAD, northwind_copy

runner = CliRunner()

# (files written into the copy, relative to its root; the one line validate must print)
TABLE = [
    pytest.param(
        {f"{CASES}/typo.yaml": HEAD + "expect:\n  outcom: done\n"},
        "northwind/evals/bug-report-triage/typo.yaml:3:3: expect.outcom: unknown field 'outcom' "
        "(did you mean 'outcome'?) [FL301]",
        id="FL301-unknown-field",
    ),
    pytest.param(
        {"evals/bug-report-triag/one.yaml": "expect: { outcome: done }\n"},
        "northwind/evals/bug-report-triag: eval directory names no loop 'bug-report-triag' of "
        "the fleet (did you mean 'bug-report-triage'?) [FL302]",
        id="FL302-did-you-mean",
    ),
    pytest.param(
        {"evals/bug-report-triage-staging/one.yaml": "expect: { outcome: done }\n"},
        "northwind/evals/bug-report-triage-staging: 'bug-report-triage-staging' is a candidate "
        "for 'bug-report-triage': its cases are the production loop's (move them to "
        "evals/bug-report-triage/) [FL302]",
        id="FL302-candidate",
    ),
    pytest.param(
        {"evals/loose.yaml": "expect: { outcome: done }\n"},
        "northwind/evals/loose.yaml: eval case outside a loop's directory: cases live in "
        "evals/<loop>/",
        id="FL303-outside",
    ),
    pytest.param(
        {f"{CASES}/tool.yaml": "expect:\n  called: [{ tool: github__add_lable }]\n"},
        "northwind/evals/bug-report-triage/tool.yaml:2:20: expect.called[0].tool: "
        "'github__add_lable' is no tool the loop's grants open on 'github' "
        "(did you mean 'github__add_label'?) [FL304]",
        id="FL304-typo",
    ),
    pytest.param(
        {f"{CASES}/server.yaml": "tools:\n  - { call: slack__post, result: ok }\n"},
        "northwind/evals/bug-report-triage/server.yaml:2:13: tools[0].call: the loop is granted "
        "no MCP server 'slack'",
        id="FL304-server",
    ),
    pytest.param(
        {f"{CASES}/gone.yaml": "model: { default: transcripts/gone.replay.yaml }\n"},
        "northwind/evals/bug-report-triage/gone.yaml:1:19: model.default: transcript "
        "evals/bug-report-triage/transcripts/gone.replay.yaml does not exist in the fleet",
        id="FL305-missing",
    ),
    pytest.param(
        {f"{CASES}/judge.yaml": "expect:\n  rubric: { judge: cheap-backpu, criteria: ok }\n"},
        "northwind/evals/bug-report-triage/judge.yaml:2:20: expect.rubric.judge: no model "
        "'cheap-backpu' in the fleet (did you mean 'cheap-backup'?) [FL306]",
        id="FL306-judge",
    ),
]


def _validate(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(root), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("files", "line"), TABLE)
def test_broken_case_is_reported(tmp_path: Path, files: dict[str, str], line: str) -> None:
    root = northwind_copy(tmp_path)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    code, out = _validate(root)
    # The copy is shown by its path; compare from the fleet's directory name on.
    shown = [x[x.index("northwind/") :] for x in out.splitlines() if "northwind/" in x]
    assert code == 1, out
    assert "Traceback" not in out
    assert [x for x in shown if x.startswith(line)] != [], out
    assert len(shown) == 1, out


def test_northwind_and_its_failing_cases_are_valid(tmp_path: Path) -> None:
    """Cases that fail when run are still well-formed: validate finds nothing in them."""
    code, out = _validate(northwind_copy(tmp_path, EXTRA))
    assert code == 0, out
    assert "12 loop(s) valid" in out


def test_json_output_names_rule_and_position(tmp_path: Path) -> None:
    root = northwind_copy(tmp_path)
    (root / CASES / "tool.yaml").write_text("expect:\n  not_called: [github__merge_pt]\n")
    code, out = _validate(root, "--output", "json")
    assert code == 1
    (finding,) = json.loads(out)["diagnostics"]
    assert finding["rule"] == "FL304"
    assert (finding["line"], finding["col"], finding["path"]) == (2, 16, "expect.not_called[0]")
    assert finding["hint"] == "did you mean 'github__merge_pr'?"


def test_rules_name_the_same_evals_directory() -> None:
    from fleet.evals.case import EVALS_DIR
    from fleet.rules import evals

    assert evals.EVALS_DIR == EVALS_DIR
