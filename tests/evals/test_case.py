"""Case files: what loads, and every mistake as a located diagnostic with the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.evals.jsonpath import MISSING, JsonPathError, parse_path, read_path
from fleet.evals.load import case_files, load_cases
from fleet.source import DirSource
from tests.conftest import EXAMPLES


def _fleet(tmp_path: Path, files: dict[str, str]) -> DirSource:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return DirSource(tmp_path, "f")


def test_northwind_cases_load_clean() -> None:
    cases, diags = load_cases(DirSource(EXAMPLES / "northwind", "nw"), "bug-report-triage")
    assert [d.format() for d in diags] == []
    assert [c.name for c in cases] == ["needs-info", "normal-report", "planted-instruction"]
    planted = cases[2]
    assert planted.transcript_for("prompts/bug-report-triage@v8") == (
        "transcripts/planted-instruction.v8.replay.yaml"
    )
    assert planted.transcript_for("prompts/bug-report-triage@v7") == (
        "transcripts/planted-instruction.replay.yaml"
    )


def test_transcripts_beside_the_cases_are_not_cases(tmp_path: Path) -> None:
    src = _fleet(
        tmp_path,
        {"evals/l/a.yaml": "{}\n", "evals/l/b.replay.yaml": "x: 1\n", "evals/l/notes.md": "n\n"},
    )
    assert case_files(src, "l") == ["evals/l/a.yaml"]


BAD = [
    (
        "expect:\n  outcme: done\n",
        "f/evals/l/c.yaml:2:3: expect.outcme: unknown field 'outcme' (did you mean 'outcome'?)",
    ),
    (
        "expect:\n  outcome: finished\n",
        "f/evals/l/c.yaml:2:12: expect.outcome: invalid value 'finished'",
    ),
    (
        "expect:\n  answer:\n    - { regex: 'a(b' }\n",
        "f/evals/l/c.yaml:3:16: expect.answer[0].regex: not a regular expression: "
        "missing ), unterminated subpattern at position 1 (check the escapes)",
    ),
    (
        "expect:\n  state:\n    - { json_path: '$..x', equals: 1 }\n",
        "f/evals/l/c.yaml:3:20: expect.state[0].json_path: json path '$..x': expected a name "
        "after '.' at 2",
    ),
    (
        "expect:\n  state:\n    - { contains: x }\n",
        "f/evals/l/c.yaml:3:7: expect.state[0]: a state check needs json_path "
        "(for example json_path: $.last_seen)",
    ),
    (
        "expect:\n  max_steps: -1\n",
        "f/evals/l/c.yaml:2:14: expect.max_steps: input should be greater than or equal to 0",
    ),
    (
        "tools:\n  - { call: github__get_issue }\n",
        "f/evals/l/c.yaml:2:5: tools[0].result: missing required field 'result'",
    ),
    (
        "model:\n  default: ../../../etc/passwd\n",
        "f/evals/l/c.yaml:2:12: model.default: transcript path '../../../etc/passwd' leaves the "
        "case's directory",
    ),
    ("- a list\n", "f/evals/l/c.yaml:1:1: expected a mapping at the top of the file, got list"),
    ("expect: [\n", "f/evals/l/c.yaml:2:1:"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_case_is_a_located_diagnostic(tmp_path: Path, text: str, expected: str) -> None:
    cases, diags = load_cases(_fleet(tmp_path, {"evals/l/c.yaml": text}), "l")
    assert cases == []
    assert diags, text
    assert diags[0].format().startswith(expected), diags[0].format()


def test_no_cases_and_an_unknown_case_say_what_to_do(tmp_path: Path) -> None:
    _, diags = load_cases(_fleet(tmp_path, {"fleet.yaml": "x\n"}), "l")
    assert diags[0].format() == (
        "f/evals/l: loop l has no eval cases (add evals/l/<case>.yaml (docs/evals.md))"
    )
    src = _fleet(tmp_path, {"evals/l/planted.yaml": "{}\n"})
    _, diags = load_cases(src, "l", only=["plantd"])
    assert diags[0].format() == "f/evals/l: no case 'plantd' for loop l (did you mean 'planted'?)"


def test_a_link_out_of_the_fleet_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("description: secret\n")
    root = tmp_path / "fleet"
    (root / "evals/l").mkdir(parents=True)
    (root / "evals/l/c.yaml").symlink_to(outside)
    cases, diags = load_cases(DirSource(root, "f"), "l")
    assert cases == [] and "must be inside the fleet" in diags[0].format()


@pytest.mark.parametrize(
    ("path", "steps"),
    [("$", ()), ("$.a.b", ("a", "b")), ("$.a[0]['x y']", ("a", 0, "x y")), ("$[-1]", (-1,))],
)
def test_json_paths(path: str, steps: tuple[str | int, ...]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["a.b", "$.", "$[x]", "$['a", "$a", "$.a[0"])
def test_bad_json_paths(path: str) -> None:
    with pytest.raises(JsonPathError):
        parse_path(path)


def test_json_path_reads() -> None:
    doc = {"a": [{"b": 1}, {"b": 2}], "c d": None}
    assert read_path(doc, parse_path("$.a[1].b")) == 2
    assert read_path(doc, parse_path("$['c d']")) is None
    assert read_path(doc, parse_path("$.a[5]")) is MISSING
    assert read_path(doc, parse_path("$.a.b")) is MISSING


def test_a_long_json_path_parses_in_linear_time() -> None:
    steps = parse_path("$" + ".a" * 100_000)
    assert len(steps) == 100_000


def test_a_transcript_is_picked_by_the_instructions_then_a_skill_then_default(
    tmp_path: Path,
) -> None:
    text = (
        "model:\n  runbook@v4: by-skill.replay.yaml\n  prompts/p@v7: by-prompt.replay.yaml\n"
        "  default: any.replay.yaml\n"
    )
    cases, diags = load_cases(_fleet(tmp_path, {"evals/l/c.yaml": text}), "l")
    assert diags == []
    c = cases[0]
    assert c.transcript_for(["prompts/p@v7", "runbook@v4"]) == "by-prompt.replay.yaml"
    assert c.transcript_for(["prompts/p@v8", "runbook@v4"]) == "by-skill.replay.yaml"
    assert c.transcript_for(["prompts/p@v8", "runbook@v3"]) == "any.replay.yaml"
    bare = cases[0].model_copy(update={"spec": c.spec.model_copy(update={"model": {}})})
    assert bare.transcript_for("prompts/p@v7") is None
