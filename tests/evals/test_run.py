"""``fleetctl eval`` end to end: the real harness, the embedded gateway, the replay provider and
the replay MCP server (the official ``mcp`` SDK) on loopback. The model replies are recorded
transcripts (replayed; no model is called)."""

from __future__ import annotations

import json
import logging
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.evals.check import CaseResult
from fleetctl.cli import app
from fleetctl.evals.gate import gate
from fleetctl.evals.runner import EvalRequest, evaluate
from tests.evals.conftest import CASES, northwind_copy

runner = CliRunner()


@pytest.fixture(scope="module")
def current(fleet_copy: Path) -> tuple[dict[str, Any], list[CaseResult]]:
    """Every case of the copy with bug-report-triage's own pins, two at a time."""
    seen: list[CaseResult] = []
    lock = threading.Lock()

    def on_result(label: str, res: CaseResult) -> None:
        with lock:
            seen.append(res)

    report = evaluate(
        EvalRequest(fleet_copy, "bug-report-triage", "current", jobs=2, on_result=on_result)
    )
    return report, seen


def _by_case(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["case"]: r for r in report["evaluated"]["results"]}


def test_recorded_cases_pass(current: tuple[dict[str, Any], list[CaseResult]]) -> None:
    report, _ = current
    rows = _by_case(report)
    for name in ("planted-instruction", "normal-report", "needs-info"):
        assert rows[name]["status"] == "pass", rows[name]["reasons"]
        assert rows[name]["outcome"] == "done" and rows[name]["verdict"] == "pass"
    planted = rows["planted-instruction"]
    # The calls came through the gateway to the replay MCP server, the checker's too.
    assert [c["tool"] for c in planted["calls"]] == [
        "github__get_issue",
        "github__add_label",
        "state",
        "finish",
        "github__get_issue",
        "verdict",
    ]
    assert rows["normal-report"]["judge"]["verdict"] == "pass"
    assert report["replay"].startswith("model replies from each case's recorded transcript")
    assert report["baseline"] is None


def test_a_case_whose_assertions_do_not_hold_fails_with_every_reason(
    current: tuple[dict[str, Any], list[CaseResult]],
) -> None:
    row = _by_case(current[0])["wrong"]
    assert row["status"] == "fail" and row["outcome"] == "done"
    assert row["reasons"] == [
        "checker verdict is pass, expected fail",
        "took 3 steps, more than 1",
        "github__add_label was not called",
        'called github__get_issue {"number":41}, which must not be',
        "the answer does not contain '#41'",
        "state $.last_seen does not exist",
    ]


def test_an_unrecorded_call_errors_the_case_and_names_the_call(
    current: tuple[dict[str, Any], list[CaseResult]],
) -> None:
    row = _by_case(current[0])["unrecorded"]
    assert row["status"] == "error"
    assert row["unrecorded"] == [{"tool": "github__get_issue", "arguments": {"number": 99}}]
    assert row["reasons"][0].startswith('unrecorded tool call github__get_issue {"number":99}')


def test_a_judge_reply_without_a_verdict_fails(
    current: tuple[dict[str, Any], list[CaseResult]],
) -> None:
    row = _by_case(current[0])["no-verdict"]
    assert row["status"] == "fail"
    assert row["reasons"] == [
        'judge cheap-backup gave no verdict (it answered "Looks reasonable to me.")'
    ]
    assert row["judge"]["verdict"] is None


def test_totals_and_no_baseline_means_every_failure_counts(
    current: tuple[dict[str, Any], list[CaseResult]],
) -> None:
    report, _ = current
    t = report["totals"]
    assert (t["cases"], t["passed"], t["failed"], t["errors"]) == (6, 3, 2, 1)
    assert report["passed"] is False and report["regressions"] == []


def test_at_most_jobs_cases_run_at_once(current: tuple[dict[str, Any], list[CaseResult]]) -> None:
    _, seen = current
    assert len(seen) == 6
    assert {r.observation.worker for r in seen} == {0, 1}
    spans = [(r.observation.started, r.observation.started + r.observation.seconds) for r in seen]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2


@pytest.fixture(scope="module")
def v8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Northwind with its staging twin on prompt v8 (it obeys the planted note), locked."""
    root = northwind_copy(tmp_path_factory.mktemp("v8"))
    twin = root / "agents/bug-report-triage-staging.yaml"
    twin.write_text(twin.read_text().replace("bug-report-triage@v7", "bug-report-triage@v8"))
    assert runner.invoke(app, ["lock", str(root)]).exit_code == 0
    return root


def test_a_regression_against_the_same_run_baseline_exits_1(v8: Path, tmp_path: Path) -> None:
    out, junit = tmp_path / "r.json", tmp_path / "r.xml"
    args = ["eval", str(v8), "bug-report-triage", "--case", "planted-instruction"]
    res = runner.invoke(
        app, [*args, "--case", "needs-info", "--json", str(out), "--junit", str(junit)]
    )
    assert res.exit_code == 1, res.output
    assert (
        "REGRESSION: 1 case(s) pass on the baseline and not on candidate: planted-instruction"
        in (res.output)
    )
    assert res.output.startswith("replayed: ")
    report = json.loads(out.read_text())
    assert report["regressions"] == ["planted-instruction"] and report["passed"] is False
    assert report["baseline"]["source"] == "same run"
    assert report["evaluated"]["pins"]["instructions"] == "prompts/bug-report-triage@v8"
    row = _by_case(report)["planted-instruction"]
    assert (
        'called github__add_label {"labels":["wontfix"],"number":41}, which must not be'
        in (row["reasons"])
    )
    # JUnit: one suite per pin set, the regressed case a <failure> in the candidate's.
    suites = ET.fromstring(junit.read_text()).findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "bug-report-triage [candidate: bug-report-triage-staging]",
        "bug-report-triage [current: bug-report-triage]",
    ]
    cand = {tc.get("name"): tc for tc in suites[0].findall("testcase")}
    assert cand["planted-instruction"].find("failure") is not None
    assert cand["needs-info"].find("failure") is None
    assert suites[0].get("failures") == "1" and suites[1].get("failures") == "0"


def test_a_saved_baseline_is_compared_without_running_it_again(v8: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    case = ["--case", "planted-instruction"]
    saved = runner.invoke(
        app,
        [
            "eval",
            str(v8),
            "bug-report-triage",
            "--pins",
            "current",
            *case,
            "--save-baseline",
            str(base),
        ],
    )
    assert saved.exit_code == 0, saved.output
    res = runner.invoke(
        app, ["eval", str(v8), "bug-report-triage", *case, "--baseline", str(base), "-o", "json"]
    )
    assert res.exit_code == 1, res.output
    report = json.loads(res.output)
    assert report["baseline"]["source"] == str(base)
    assert report["regressions"] == ["planted-instruction"]


def test_the_gate_passes_northwind_as_shipped(tmp_path: Path) -> None:
    root = northwind_copy(tmp_path)
    g = gate(root, "bug-report-triage-staging", jobs=2)
    assert g.passed and g.regressed == []
    assert g.report["totals"]["passed"] == g.report["totals"]["cases"] == 3
    assert "no regression against the baseline" in g.table


BAD_CASE = """\
description: a typo and a regex that does not compile
expect:
  outcme: done
  answer: [{ regex: "(" }]
"""


def test_a_bad_case_file_is_located_and_exits_2(tmp_path: Path) -> None:
    root = northwind_copy(tmp_path, {"bad.yaml": BAD_CASE})
    res = runner.invoke(app, ["eval", str(root), "bug-report-triage"])
    assert res.exit_code == 2
    shown = f"{root}/{CASES}/bad.yaml"
    assert res.output.splitlines() == [
        # the fleet's own validation reads the cases first: the finding carries its rule id
        f"{shown}:3:3: expect.outcme: unknown field 'outcme' (did you mean 'outcome'?) [FL301]",
    ]
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pins", "next"], "--pins 'next': expected candidate or current"),
        (["--jobs", "0"], "--jobs 0: expected 1 or more"),
        (["--provider", "openai"], "--provider 'openai': expected replay, replay:FILE"),
        (["--baseline", "/nonexistent/b.json"], "--baseline /nonexistent/b.json: cannot read it"),
    ],
)
def test_usage_errors_exit_2(v8: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["eval", str(v8), "bug-report-triage", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_a_loop_without_a_twin_has_no_candidate(v8: Path) -> None:
    res = runner.invoke(app, ["eval", str(v8), "changelog"])
    assert res.exit_code == 2
    assert "loop changelog has no staging twin (no loop has promotes_to: changelog)" in res.output


def test_record_from_the_fleet_provider_then_replay_the_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--provider fleet sends the model calls to the fleet's own provider: here a scripted one
    on loopback (the replay app playing normal-report's transcript) named in fleet.yaml. What
    it answered is recorded, and replaying the recording gives the same run."""
    from fleetctl.local.replay import Replay, serve_in_thread

    root = northwind_copy(tmp_path)
    script = Replay.from_file(root / CASES / "transcripts/normal-report.replay.yaml")
    url, stop = serve_in_thread(script)
    try:
        fleet_yaml = root / "fleet.yaml"
        text = fleet_yaml.read_text()
        for real in ("https://api.openai.com/v1", "https://api.anthropic.com/v1"):
            text = text.replace(real, url)
        fleet_yaml.write_text(text)
        monkeypatch.setenv("PROVIDER_OPENAI_API_KEY", "sk-scripted")
        monkeypatch.setenv("PROVIDER_ANTHROPIC_API_KEY", "sk-scripted")
        rec = tmp_path / "recorded"
        args = ["eval", str(root), "bug-report-triage", "--pins", "current", "--case"]
        live = runner.invoke(
            app, [*args, "normal-report", "--provider", "fleet", "--record", str(rec)]
        )
    finally:
        stop()
    assert live.exit_code == 0, live.output
    assert not live.output.startswith("replayed:")
    assert "note: model replies came live from the fleet's providers; tool results were" in (
        live.output
    )
    assert f"note: recorded 1 transcript(s) in {rec}" in live.output
    recorded = Replay.from_file(rec / "normal-report.replay.yaml")
    assert sorted(recorded.tracks) == [
        "bug-report-triage",
        "bug-report-triage/judge",
        "bug-report-triage/reviewer",
    ]
    assert [r.tool_calls for r in recorded.tracks["bug-report-triage"]] == [
        r.tool_calls for r in script.tracks["bug-report-triage"]
    ]
    again = runner.invoke(
        app, [*args, "normal-report", "--provider", f"replay:{rec}", "-o", "json"]
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert report["replay"].startswith(f"model replies from the transcripts in {rec}")
    assert report["totals"]["passed"] == 1


def test_without_the_warm_parent_each_run_execs_fleet_harness(fleet_copy: Path) -> None:
    report = evaluate(
        EvalRequest(fleet_copy, "bug-report-triage", "current", cases=["needs-info"], fork=False)
    )
    assert [r["status"] for r in report["evaluated"]["results"]] == ["pass"]


def test_a_missing_or_broken_transcript_is_located_and_exits_2(tmp_path: Path) -> None:
    case = (
        "model:\n  default: transcripts/broken.replay.yaml\n"
        "  prompts/bug-report-triage@v7: transcripts/missing.replay.yaml\n"
    )
    broken = "replay: x\ntracks:\n  bug-report-triage:\n    - { contnt: hi }\n"
    root = northwind_copy(tmp_path, {"t.yaml": case, "transcripts/broken.replay.yaml": broken})
    res = runner.invoke(app, ["eval", str(root), "bug-report-triage", "--case", "t"])
    assert res.exit_code == 2
    # A missing transcript is a finding of the fleet's validation, reported before any run.
    assert res.output.splitlines() == [
        f'{root}/{CASES}/t.yaml:3:33: model."prompts/bug-report-triage@v7": transcript '
        f"{CASES}/transcripts/missing.replay.yaml does not exist in the fleet (record it with a "
        "run of the loop, or fix the path (relative to the case)) [FL305]",
    ]
    (root / CASES / "transcripts/missing.replay.yaml").write_text(broken)
    res = runner.invoke(app, ["eval", str(root), "bug-report-triage", "--case", "t"])
    assert res.exit_code == 2
    # Then every transcript is read, and every mistake in each is located.
    assert res.output.splitlines() == [
        line
        for name in ("broken", "missing")
        for line in (
            f"{root}/{CASES}/transcripts/{name}.replay.yaml:4:7: tracks.bug-report-triage[0]: "
            "an empty reply (give 'content', 'tool_calls' or 'status')",
            f"{root}/{CASES}/transcripts/{name}.replay.yaml:4:9: tracks.bug-report-triage[0]."
            "contnt: unknown field 'contnt' (did you mean 'content'?)",
        )
    ]


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_eval_s_own_scratch_store_is_not_announced(v8: Path) -> None:
    # A scratch directory the eval made: its store is new by design, and the gateway's notice of
    # a new store (for a mistyped --store) would only be noise in the report.
    logger, kept = logging.getLogger("fleet.gateway"), _Kept()
    level, logger.level = logger.level, logging.DEBUG
    logger.addHandler(kept)
    try:
        res = runner.invoke(
            app,
            ["eval", str(v8), "bug-report-triage", "--case", "needs-info", "--case", "planted-instruction"],
        )  # fmt: skip
    finally:
        logger.removeHandler(kept)
        logger.level = level
    assert res.exit_code == 1, res.output  # v8 obeys the planted note
    assert [m for m in kept.messages if "empty store" in m] == []
    assert res.output.startswith("replayed: "), res.output
