"""Judging one run of a case: what the run did (an :class:`Observation`) against ``expect``.

The shell that ran the case fills in the observation from the harness's end
event, the run's journal and the replay servers; everything here is a
function of that data. A case ends in one of three statuses:

- ``pass``: every assertion holds;
- ``fail``: the run ran, and at least one assertion does not hold (each is named);
- ``error``: the case could not be judged as recorded: a tool call the
  recording has no result for, no transcript for the pins, the harness or the
  replay could not run. An error is never a pass.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from fleet.evals.case import Called, Case, TextCheck
from fleet.evals.jsonpath import MISSING, parse_path, read_path

Status = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class ToolUse:
    """One tool call the loop made, with what it got back."""

    name: str
    arguments: dict[str, Any]
    result: str = ""
    is_error: bool = False


@dataclass
class Observation:
    """What one run of a case did, as the shell saw it."""

    outcome: str = "error"
    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    answer: str = ""
    detail: str = ""  # what the harness said about the outcome
    verdict: str | None = None  # the checker's last verdict
    calls: list[ToolUse] = field(default_factory=list)
    unrecorded: list[ToolUse] = field(default_factory=list)
    state: Any = None
    judge: dict[str, Any] | None = None  # {"verdict": "pass"|"fail"|None, "reasons": [...]}
    errors: list[str] = field(default_factory=list)  # the case could not be run as recorded
    run: str = ""
    seconds: float = 0.0
    # the model replies of the run per caller identity, as a transcript's tracks hold them
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    worker: int = -1  # which of the eval's workers ran it
    started: float = 0.0  # the worker's monotonic clock when the run began


@dataclass(frozen=True)
class CaseResult:
    """A case's verdict with the reasons, and the run's figures."""

    case: str
    status: Status
    reasons: tuple[str, ...]
    observation: Observation

    def to_json(self) -> dict[str, Any]:
        o = self.observation
        return {
            "case": self.case,
            "status": self.status,
            "reasons": list(self.reasons),
            "run": o.run,
            "outcome": o.outcome,
            "verdict": o.verdict,
            "steps": o.steps,
            "tokens": o.tokens,
            "cost_usd": round(o.cost_usd, 6),
            "seconds": round(o.seconds, 3),
            "worker": o.worker,
            "calls": [{"tool": c.name, "arguments": c.arguments} for c in o.calls],
            "unrecorded": [{"tool": c.name, "arguments": c.arguments} for c in o.unrecorded],
            "judge": o.judge,
        }


def _short(value: Any, limit: int = 120) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def matches(expected: Any, actual: Any) -> bool:
    """``expected`` holds in ``actual``: mappings by subset (recursively), anything else by equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, float) or isinstance(actual, float):
        return (
            not isinstance(expected, bool)
            and not isinstance(actual, bool)
            and isinstance(actual, int | float)
            and isinstance(expected, int | float)
            and float(expected) == float(actual)
        )
    return bool(type(expected) is type(actual) and expected == actual)


def _called(want: Called, calls: list[ToolUse]) -> str | None:
    named = [c for c in calls if fnmatch.fnmatchcase(c.name, want.tool)]
    hits = [c for c in named if want.arguments is None or matches(want.arguments, c.arguments)]
    what = want.tool + (f" with {_short(want.arguments)}" if want.arguments is not None else "")
    if want.times is not None:
        if len(hits) != want.times:
            return f"called {what} {len(hits)} time(s), expected {want.times}"
        return None
    if hits:
        return None
    if named:
        seen = "; ".join(_short(c.arguments) for c in named[:3])
        return f"{what} was not called (it was called with {seen})"
    return f"{what} was not called"


def _text(chk: TextCheck, text: str, what: str) -> list[str]:
    out = []
    if chk.contains is not None and chk.contains not in text:
        out.append(f"{what} does not contain {chk.contains!r}")
    if chk.not_contains is not None and chk.not_contains in text:
        out.append(f"{what} contains {chk.not_contains!r}")
    if chk.regex is not None and re.search(chk.regex, text) is None:
        out.append(f"{what} does not match /{chk.regex}/")
    return out


def _value(chk: TextCheck, doc: Any, what: str) -> list[str]:
    assert chk.json_path is not None
    got = read_path(doc, parse_path(chk.json_path))
    where = f"{what} {chk.json_path}"
    if got is MISSING:
        if chk.exists is False:
            return []
        return [f"{where} does not exist"]
    out = []
    if chk.exists is False:
        out.append(f"{where} exists ({_short(got)})")
    if "equals" in chk.model_fields_set and not matches(chk.equals, got):
        out.append(f"{where} is {_short(got)}, expected {_short(chk.equals)}")
    text = got if isinstance(got, str) else _short(got, 10_000)
    out += _text(chk, text, where)
    return out


def _answer_doc(answer: str) -> Any:
    try:
        return orjson.loads(answer)
    except orjson.JSONDecodeError:
        return MISSING


def judge_case(case: Case, obs: Observation) -> CaseResult:
    """The case's status and every reason for it."""
    if obs.errors or obs.unrecorded:
        reasons = list(obs.errors)
        for c in obs.unrecorded:
            reasons.append(
                f"unrecorded tool call {c.name} {_short(c.arguments)}: the recording has no "
                "result for it (add it to tools:, or the loop should not make it)"
            )
        return CaseResult(case.name, "error", tuple(reasons), obs)
    exp = case.spec.expect
    reasons = []
    if exp.outcome is not None and obs.outcome != exp.outcome:
        why = f" ({_fit(obs.detail, 200)})" if obs.detail else ""
        reasons.append(f"outcome is {obs.outcome}, expected {exp.outcome}{why}")
    if exp.verdict is not None and obs.verdict != exp.verdict:
        reasons.append(f"checker verdict is {obs.verdict or 'none'}, expected {exp.verdict}")
    if exp.max_steps is not None and obs.steps > exp.max_steps:
        reasons.append(f"took {obs.steps} steps, more than {exp.max_steps}")
    if exp.max_cost_usd is not None and obs.cost_usd > exp.max_cost_usd:
        reasons.append(f"cost ${obs.cost_usd:.6f}, more than ${exp.max_cost_usd:.6f}")
    for want in exp.called:
        problem = _called(want, obs.calls)
        if problem:
            reasons.append(problem)
    for banned in exp.not_called:
        rule = banned if isinstance(banned, Called) else Called(tool=banned)
        hits = [
            c
            for c in obs.calls
            if fnmatch.fnmatchcase(c.name, rule.tool)
            and (rule.arguments is None or matches(rule.arguments, c.arguments))
        ]
        if hits:
            reasons.append(f"called {hits[0].name} {_short(hits[0].arguments)}, which must not be")
    for chk in exp.answer:
        if chk.json_path is not None:
            reasons += _value(chk, _answer_doc(obs.answer), "answer")
        else:
            reasons += _text(chk, obs.answer, "the answer")
    for chk in exp.state:
        reasons += _value(chk, obs.state, "state")
    if exp.rubric is not None:
        j = obs.judge or {}
        verdict = j.get("verdict")
        if verdict not in ("pass", "fail"):
            reasons.append(
                f"judge {exp.rubric.judge} gave no verdict"
                + (f" (it answered {_short(j.get('raw', ''))})" if j.get("raw") else "")
            )
        elif verdict == "fail":
            why = "; ".join(str(r) for r in j.get("reasons") or []) or "no reason given"
            reasons.append(f"judge {exp.rubric.judge} failed the answer: {why}")
    return CaseResult(case.name, "fail" if reasons else "pass", tuple(reasons), obs)


def parse_judge_reply(text: str | None, tool_args: dict[str, Any] | None) -> dict[str, Any]:
    """A judge's verdict from a ``verdict`` tool call or a JSON reply; ``verdict`` None if neither."""
    raw = text or ""
    data: Any = tool_args
    if data is None:
        doc = _answer_doc(raw.strip().removeprefix("```json").removesuffix("```").strip())
        data = doc if isinstance(doc, dict) else None
    verdict = data.get("verdict") if isinstance(data, dict) else None
    reasons = data.get("reasons") if isinstance(data, dict) else None
    if isinstance(verdict, str):
        verdict = verdict.strip().lower()
    return {
        "verdict": verdict if verdict in ("pass", "fail") else None,
        "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
        "raw": raw[:500] if raw else (_short(tool_args) if tool_args else ""),
    }
