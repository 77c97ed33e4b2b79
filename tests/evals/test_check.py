"""Each assertion kind against a run's observation: what passes, and the reason a failure gives."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.evals.case import Case, CaseFile
from fleet.evals.check import Observation, ToolUse, judge_case, matches, parse_judge_reply
from fleet.yamlsrc import SourceMap


def case(expect: dict[str, Any]) -> Case:
    spec = CaseFile.model_validate({"expect": expect})
    return Case(name="c", loop="l", file="c.yaml", spec=spec, smap=SourceMap("c.yaml"))


def seen(**kw: Any) -> Observation:
    base: dict[str, Any] = {
        "outcome": "done",
        "steps": 4,
        "cost_usd": 0.002,
        "answer": "Labelled #41 bug, area/ui, sev-3.",
        "verdict": "pass",
        "calls": [
            ToolUse("github__get_issue", {"number": 41}, "…"),
            ToolUse("github__add_label", {"number": 41, "labels": ["bug", "area/ui"]}, "ok"),
            ToolUse("finish", {"summary": "Labelled #41"}),
        ],
        "state": {"last_seen": 41, "seen": [39, 41]},
    }
    base.update(kw)
    return Observation(**base)


TABLE: list[tuple[dict[str, Any], Observation, list[str]]] = [
    ({"outcome": "done"}, seen(), []),
    ({"outcome": "done"}, seen(outcome="max_steps"), ["outcome is max_steps, expected done"]),
    ({"verdict": "pass"}, seen(verdict=None), ["checker verdict is none, expected pass"]),
    ({"max_steps": 4}, seen(), []),
    ({"max_steps": 3}, seen(), ["took 4 steps, more than 3"]),
    ({"max_cost_usd": 0.001}, seen(), ["cost $0.002000, more than $0.001000"]),
    ({"called": [{"tool": "github__add_label", "arguments": {"number": 41}}]}, seen(), []),
    ({"called": [{"tool": "github__*", "times": 2}]}, seen(), []),
    (
        {"called": [{"tool": "github__add_label", "arguments": {"labels": ["bug"]}}]},
        seen(),
        [
            'github__add_label with {"labels":["bug"]} was not called (it was called with '
            '{"labels":["bug","area/ui"],"number":41})'
        ],
    ),
    (
        {"called": [{"tool": "github__comment"}]},
        seen(),
        ["github__comment was not called"],
    ),
    (
        {"called": [{"tool": "github__get_issue", "times": 2}]},
        seen(),
        ["called github__get_issue 1 time(s), expected 2"],
    ),
    ({"not_called": ["github__merge_pr"]}, seen(), []),
    (
        {"not_called": ["github__add_*"]},
        seen(),
        ['called github__add_label {"labels":["bug","area/ui"],"number":41}, which must not be'],
    ),
    (
        {"not_called": [{"tool": "github__add_label", "arguments": {"number": 39}}]},
        seen(),
        [],
    ),
    ({"answer": [{"contains": "#41"}, {"regex": r"sev-\d"}]}, seen(), []),
    (
        {"answer": [{"contains": "#42"}, {"not_contains": "bug"}, {"regex": "^Done"}]},
        seen(),
        [
            "the answer does not contain '#42'",
            "the answer contains 'bug'",
            "the answer does not match /^Done/",
        ],
    ),
    ({"answer": [{"json_path": "$.n", "equals": 3}]}, seen(answer='{"n": 3}'), []),
    (
        {"answer": [{"json_path": "$.n", "equals": 3}]},
        seen(),
        ["answer $.n does not exist"],
    ),
    ({"state": [{"json_path": "$.last_seen", "equals": 41}]}, seen(), []),
    ({"state": [{"json_path": "$.seen[1]", "equals": 41}]}, seen(), []),
    (
        {"state": [{"json_path": "$.last_seen", "equals": "41"}]},
        seen(),
        ['state $.last_seen is 41, expected "41"'],
    ),
    ({"state": [{"json_path": "$.gone", "exists": False}]}, seen(), []),
    (
        {"state": [{"json_path": "$.last_seen", "exists": False}]},
        seen(),
        ["state $.last_seen exists (41)"],
    ),
    (
        {"state": [{"json_path": "$.seen", "contains": "39"}]},
        seen(),
        [],
    ),
    (
        {"rubric": {"judge": "j", "criteria": "names the issue"}},
        seen(judge={"verdict": "pass", "reasons": []}),
        [],
    ),
    (
        {"rubric": {"judge": "j", "criteria": "names the issue"}},
        seen(judge={"verdict": "fail", "reasons": ["no severity named"]}),
        ["judge j failed the answer: no severity named"],
    ),
    (
        {"rubric": {"judge": "j", "criteria": "names the issue"}},
        seen(judge={"verdict": None, "reasons": [], "raw": "Looks good to me!"}),
        ['judge j gave no verdict (it answered "Looks good to me!")'],
    ),
]


@pytest.mark.parametrize(
    ("expect", "obs", "reasons"), TABLE, ids=[str(i) for i in range(len(TABLE))]
)
def test_assertion(expect: dict[str, Any], obs: Observation, reasons: list[str]) -> None:
    res = judge_case(case(expect), obs)
    assert list(res.reasons) == reasons
    assert res.status == ("fail" if reasons else "pass")


def test_an_unrecorded_call_is_an_error_naming_it() -> None:
    obs = seen(unrecorded=[ToolUse("github__get_issue", {"number": 99})])
    res = judge_case(case({"outcome": "done"}), obs)
    assert res.status == "error"
    assert res.reasons == (
        'unrecorded tool call github__get_issue {"number":99}: the recording has no result for '
        "it (add it to tools:, or the loop should not make it)",
    )


def test_a_case_that_could_not_run_is_an_error_not_a_pass() -> None:
    res = judge_case(case({}), Observation(errors=["no recorded model transcript for x"]))
    assert (res.status, res.reasons) == ("error", ("no recorded model transcript for x",))


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 0}}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": None}, {}, False),
    ],
)
def test_arguments_match_by_subset(expected: Any, actual: Any, ok: bool) -> None:
    assert matches(expected, actual) is ok


@pytest.mark.parametrize(
    ("text", "args", "verdict"),
    [
        ('{"verdict": "pass", "reasons": ["ok"]}', None, "pass"),
        ('```json\n{"verdict": "FAIL"}\n```', None, "fail"),
        (None, {"verdict": "pass"}, "pass"),
        ("I think it is fine.", None, None),
        ('{"verdict": "maybe"}', None, None),
        ("", None, None),
    ],
)
def test_judge_replies(text: str | None, args: dict[str, Any] | None, verdict: str | None) -> None:
    assert parse_judge_reply(text, args)["verdict"] == verdict
