"""The report's verdict against a baseline, and its JUnit XML and table, from results as data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from fleet.evals.check import CaseResult, Observation
from fleet.evals.report import baseline_from_report, build_report, junit_xml, pin_set, table


def results(statuses: dict[str, str]) -> list[CaseResult]:
    return [
        CaseResult(
            name,
            status,
            () if status == "pass" else (f"{name} went wrong",),
            Observation(outcome="done", steps=3, cost_usd=0.001, seconds=0.5),
        )  # type: ignore[arg-type]
        for name, status in statuses.items()
    ]


def report(now: dict[str, str], before: dict[str, str] | None) -> dict[str, Any]:
    pins = {"instructions": "prompts/p@v2", "skills": ["s@v1"], "model": "m"}
    ev = pin_set("candidate", "l-staging", pins, results(now))
    base = (
        pin_set("current", "l", {**pins, "instructions": "prompts/p@v1"}, results(before))
        if before is not None
        else None
    )
    return build_report(
        loop="l",
        evaluated=ev,
        baseline=base,
        baseline_source="same run" if base else None,
        replay="model replies from a recording",
    )


@pytest.mark.parametrize(
    ("now", "before", "regressions", "new", "passed"),
    [
        ({"a": "pass", "b": "pass"}, {"a": "pass", "b": "pass"}, [], [], True),
        ({"a": "fail", "b": "pass"}, {"a": "pass", "b": "pass"}, ["a"], [], False),
        ({"a": "error"}, {"a": "pass"}, ["a"], [], False),
        ({"a": "pass", "b": "fail"}, {"a": "fail", "b": "fail"}, [], ["a"], True),
        ({"a": "pass"}, {"a": "error"}, [], ["a"], True),
        ({"a": "fail"}, {}, [], [], True),  # a case the baseline never ran cannot regress
        ({"a": "pass", "b": "fail"}, None, [], [], False),  # no baseline: a failure is a finding
        ({"a": "pass"}, None, [], [], True),
    ],
)
def test_regressions_and_new_passes(
    now: dict[str, str],
    before: dict[str, str] | None,
    regressions: list[str],
    new: list[str],
    passed: bool,
) -> None:
    r = report(now, before)
    assert (r["regressions"], r["new_passes"], r["passed"]) == (regressions, new, passed)


def test_totals() -> None:
    t = report({"a": "pass", "b": "fail", "c": "error"}, None)["totals"]
    assert t == {"cases": 3, "passed": 1, "failed": 1, "errors": 1, "steps": 9, "cost_usd": 0.003}


def test_junit_xml_parses_with_one_suite_per_pin_set() -> None:
    root = ET.fromstring(
        junit_xml(
            report(
                {"a": "fail", "b": "error", "c": "pass"}, {"a": "pass", "b": "pass", "c": "pass"}
            )
        )
    )
    suites = root.findall("testsuite")
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("3", "1", "1"),
        ("3", "0", "0"),
    ]
    cases = {tc.get("name"): tc for tc in suites[0].findall("testcase")}
    assert cases["a"].find("failure").get("message") == "a went wrong"  # type: ignore[union-attr]
    assert cases["b"].find("error") is not None and list(cases["c"]) == []
    assert suites[0].find("properties/property").get("value") == "model replies from a recording"  # type: ignore[union-attr]


def test_table_names_the_replay_the_pins_and_the_regression() -> None:
    text = table(report({"a": "fail", "b": "pass"}, {"a": "pass", "b": "fail"}))
    lines = text.splitlines()
    assert lines[0] == "replayed: model replies from a recording"
    assert lines[1] == "candidate: l-staging (instructions prompts/p@v2, skills s@v1, model m)"
    assert lines[2] == "baseline (same run): l (instructions prompts/p@v1, skills s@v1, model m)"
    assert lines[3].split() == ["case", "baseline", "candidate", "steps", "cost", "$", "why"]
    assert lines[4].split()[:4] == ["a", "pass", "fail", "REGRESSED"]
    assert lines[-2] == "REGRESSION: 1 case(s) pass on the baseline and not on candidate: a"
    assert lines[-1] == "new passes: b"


def test_a_saved_report_is_read_back_as_a_baseline() -> None:
    r = report({"a": "pass"}, None)
    assert baseline_from_report(r) == r["evaluated"]
    assert baseline_from_report({"version": 1, "evaluated": {"results": [{"no": "case"}]}}) is None
    assert baseline_from_report([]) is None
