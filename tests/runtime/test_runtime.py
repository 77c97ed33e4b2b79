"""The pure decisions of a run: verdicts, stalls, bounds, the definition, the prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet.runtime import prompts
from fleet.runtime.definition import Bounds, DefinitionError, parse
from fleet.runtime.outcomes import outcome_of_refusal
from fleet.runtime.progress import StallDetector, Usage, fingerprint, over
from fleet.runtime.verdict import from_arguments, from_text
from harness.content import load


@pytest.mark.parametrize(
    ("text", "passed", "clear"),
    [
        ('{"verdict": "pass", "reasons": ["ok"]}', True, True),
        ('Verdict follows. {"verdict": "fail", "reasons": ["no test"]}', False, True),
        ('{"verdict": "PASS", "reasons": "fine"}', True, True),
        ("Looks good to me, pass!", False, False),
        ('{"verdict": "maybe"}', False, False),
        ('{"verdict": "pass"} but also {"verdict": "fail"}', False, False),
        ("", False, False),
        (None, False, False),
        ("{" * 50_000, False, False),
    ],
)
def test_verdict_from_text(text: str | None, passed: bool, clear: bool) -> None:
    v = from_text(text)
    assert (v.passed, v.clear) == (passed, clear)
    if not clear:
        assert "no clear verdict" in v.reasons[0]


@pytest.mark.parametrize(
    ("args", "passed"),
    [
        ({"verdict": "pass", "reasons": ["ok"]}, True),
        ({"verdict": "fail", "reasons": []}, False),
        ({"verdict": True}, False),
        ({}, False),
        (None, False),
        ([1, 2], False),
    ],
)
def test_verdict_from_arguments(args: Any, passed: bool) -> None:
    assert from_arguments(args).passed is passed


def test_verdict_text_is_linear() -> None:
    import time

    t0 = time.perf_counter()
    from_text("{" + "a" * 200_000 + "{}" * 100_000)
    assert time.perf_counter() - t0 < 1.0


def test_stall_detector() -> None:
    s = StallDetector(after=2)
    s.observe(fingerprint("t", {"a": 1}, "r"))
    assert not s.end_step()  # new result: progress
    s.observe(fingerprint("t", {"a": 1}, "r"))
    assert not s.end_step()  # one quiet step
    s.state_changed()
    assert not s.end_step()  # the state changed: progress
    assert not s.end_step()
    assert s.end_step()  # two quiet steps in a row


def test_fingerprint_is_canonical() -> None:
    assert fingerprint("t", {"a": 1, "b": 2}, "r") == fingerprint("t", {"b": 2, "a": 1}, "r")
    assert fingerprint("t", {"a": 1}, "r") != fingerprint("t", {"a": 1}, "s")


@pytest.mark.parametrize(
    ("usage", "elapsed", "outcome"),
    [
        (Usage(steps=9), 0, None),
        (Usage(steps=10), 0, "max_steps"),
        (Usage(tokens=500), 0, "max_tokens"),
        (Usage(active_s=50), 9, None),
        (Usage(active_s=50), 10, "timeout"),
    ],
)
def test_bounds(usage: Usage, elapsed: float, outcome: str | None) -> None:
    reached = over(Bounds(max_steps=10, max_tokens=500, max_run_s=60), usage, elapsed)
    assert (reached[0] if reached else None) == outcome


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (429, "budget_exceeded", "budget_exceeded"),
        (429, "run_step_limit", "max_steps"),
        (429, "run_token_limit", "max_tokens"),
        (400, "guardrail_blocked", "guardrail_blocked"),
        (429, "rate_limited", None),
        (503, None, None),
        (502, "all_targets_failed", None),
        (403, "model_not_granted", "error"),
        (401, "invalid_token", "error"),
    ],
)
def test_refusals(status: int, code: str | None, outcome: str | None) -> None:
    assert outcome_of_refusal(status, code) == outcome


def doc(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": "m", "instructions": {"name": "p"}}
    base.update(spec)
    return {"name": "loop", "spec": base}


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"spec": {}}, "definition.name"),
        (doc(model=None), "spec.model"),
        (doc(instructions=None), "spec.instructions"),
        (doc(harness={"maxSteps": 0}), "spec.harness.maxSteps"),
        (doc(subagents=[{"name": "x", "role": "boss"}]), "spec.subagents[0].role"),
        (doc(done={"checker": "ghost"}), "spec.done.checker: 'ghost'"),
        (doc(done={"commandTimeout": "soon", "command": "true"}), "spec.done.commandTimeout"),
        ([], "expected a JSON object"),
    ],
)
def test_definition_errors(d: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(d)


def test_definition_defaults_to_the_only_checker() -> None:
    d = parse(doc(subagents=[{"name": "rev", "role": "checker"}], harness={"maxCheckerRounds": 2}))
    assert d.done.checker == "rev" and d.checker is not None
    assert d.checker.identity == "loop/rev" and d.checker.model == "m"
    assert d.bounds.checker_rounds == 2
    two = parse(doc(subagents=[{"name": "a", "role": "checker"}, {"name": "b", "role": "checker"}]))
    assert two.done.checker is None


def test_prompts_are_deterministic() -> None:
    a = prompts.task("l", "cron", {"b": 1, "a": 2}, {"x": [1]}, 3)
    assert a == prompts.task("l", "cron", {"b": 1, "a": 2}, {"x": [1]}, 3)
    assert "version 3" in a
    calls = [("t", {"i": i}, "r" * 5000, False) for i in range(40)]
    ev = prompts.evidence(calls)
    assert len(ev) < prompts.EVIDENCE_BYTES + 3000 and "earlier calls left out" in ev


def test_load_skill_reads_only_files_of_the_pin(tmp_path: Path) -> None:
    (tmp_path / "instructions" / "p").mkdir(parents=True)
    (tmp_path / "instructions" / "p" / "PROMPT.md").write_text("do it")
    skill = tmp_path / "skills" / "s"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: s\ndescription: Labels issues.\n---\n# S\nbody\n")
    (skill / "ref__a.md").write_text("A")
    (skill / "..data").mkdir()
    (tmp_path / "secret.txt").write_text("do not read")
    d = parse(doc(skills=[{"name": "s"}]))
    content = load(tmp_path, d.maker)
    assert content.instructions == "do it"
    assert [(c.name, c.description) for c in content.cards] == [("s", "Labels issues.")]
    text, err = content.load_skill("s")
    assert not err and "ref/a.md" in text
    assert content.load_skill("s", "ref/a.md") == ("A", False)
    for bad in ("../../secret.txt", "/etc/passwd", "..data", "ref__a.md/../../secret.txt"):
        text, err = content.load_skill("s", bad)
        assert err and "do not read" not in text
    assert content.load_skill("../skills/s")[1]
