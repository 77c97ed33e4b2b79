"""The pin rewrite: only pin scalars change, every other byte of a loop file stays, in flow and
block style, quoted or plain; what cannot be rewritten that way is refused, located."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.lifecycle import LifecycleError
from fleet.lifecycle.edit import rewrite
from fleet.lifecycle.pins import changes, member_names, pins_of
from fleet.yamlsrc import parse

GOLDEN = Path(__file__).parent / "golden"


def promote_text(text: str, target: dict, *, remove: bool = False) -> str:
    raw, _, diags = parse(text, "agents/x.yaml")
    assert not diags
    plan = changes(pins_of(raw), target, member_names(raw), remove=remove)
    return rewrite(text, raw, plan, "agents/x.yaml")


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_flow_style_golden() -> None:
    """The northwind production loop gets its candidate's pins: two lines change, no other byte."""
    text = (GOLDEN / "flow.yaml").read_text()
    out = promote_text(
        text,
        {"instructions": "prompts/bug-report-triage@v7", "skills": ("triage-runbook@v4",)},
    )
    assert out == (GOLDEN / "flow.promoted.yaml").read_text()
    assert changed_lines(text, out) == [
        "-  instructions: prompts/bug-report-triage@v6",
        "-  skills: [triage-runbook@v3]",
        "+  instructions: prompts/bug-report-triage@v7",
        "+  skills: [triage-runbook@v4]",
    ]


def test_block_style_golden_keeps_quotes_and_comments() -> None:
    text = (GOLDEN / "block.yaml").read_text()
    out = promote_text(
        text,
        {
            "model": "cheap-backup",
            "instructions": "prompts/nightly-digest@v3",
            "skills": ("incident-summary@v2", "release-writing@v1"),
            "subagents.reviewer.model": "triage-default",
        },
    )
    assert out == (GOLDEN / "block.promoted.yaml").read_text()
    assert changed_lines(text, out) == [
        '-  model: "triage-default"          # quoted on purpose',
        "-  instructions: 'prompts/nightly-digest@v2'",
        '+  model: "cheap-backup"          # quoted on purpose',
        "+  instructions: 'prompts/nightly-digest@v3'",
        "-    - incident-summary@v1          # what a summary holds",
        "+    - incident-summary@v2          # what a summary holds",
        "-      model: cheap-backup          # a cheaper checker",
        "+      model: triage-default          # a cheaper checker",
    ]


@pytest.mark.parametrize(
    ("skills", "expected"),
    [
        (("a@v1", "b@v1", "c@v1"), "  skills:\n    - a@v1\n    - b@v1\n    - c@v1\n  subagents:"),
        (("a@v1",), "  skills:\n    - a@v1\n  subagents:"),
        ((), "  skills: []\n  subagents:"),
    ],
)
def test_block_list_of_another_length(skills: tuple[str, ...], expected: str) -> None:
    text = (GOLDEN / "block.yaml").read_text()
    out = promote_text(text, {"skills": skills})
    assert expected in out
    assert pins_of(parse(out, "x")[0])["skills"] == skills
    head, tail = text.split("  skills:")[0], text.split("  subagents:")[1]
    assert out.startswith(head) and out.endswith(tail)


@pytest.mark.parametrize("name", ["flow.yaml", "block.yaml"])
def test_added_then_removed_pins_give_the_same_bytes(name: str) -> None:
    """A pin production did not write is added next to its kin; rolling back removes it again."""
    text = (GOLDEN / name).read_text()
    raw = parse(text, "x")[0]
    before = pins_of(raw)
    added = promote_text(text, {"subagents.reviewer.instructions": "prompts/review@v1"})
    assert pins_of(parse(added, "x")[0]) == {
        **before,
        "subagents.reviewer.instructions": "prompts/review@v1",
    }
    assert len(changed_lines(text, added)) in (1, 2)  # flow: the line changes; block: one is added
    assert promote_text(added, before, remove=True) == text


def test_promotion_keeps_production_pins_the_candidate_does_not_write() -> None:
    text = (GOLDEN / "flow.yaml").read_text()
    raw = parse(text, "x")[0]
    current = pins_of(raw)
    assert (
        changes(current, {"model": "cheap-backup"}, member_names(raw), remove=False)[0].label
        == "model"
    )
    assert len(changes(current, {"model": "cheap-backup"}, member_names(raw), remove=False)) == 1
    gone = changes(current, {"model": "cheap-backup"}, member_names(raw), remove=True)
    assert {c.label for c in gone if c.after is None} == {
        "instructions",
        "skills",
        "subagents.reviewer.model",
    }
    # A sub-agent production does not have is shape, not a pin: never added by a promotion.
    assert changes(current, {"subagents.other.model": "m"}, member_names(raw), remove=False) == []


ALIASED = """agent:
  name: a
  owner: platform-team
  model: &m triage-default
  instructions: prompts/a@v1
  subagents:
    - { name: r, role: checker, model: *m }
  trigger: { schedule: "0 5 * * *" }
"""


def test_a_pin_behind_an_alias_is_refused_located() -> None:
    """Splicing the alias's target would change another pin too: refused, nothing half-done."""
    with pytest.raises(LifecycleError) as info:
        promote_text(ALIASED, {"subagents.r.model": "cheap-backup"})
    d = info.value.diagnostic
    assert d.file == "agents/x.yaml" and d.path == "agent.subagents[0].model"
    assert "without touching anything else" in d.message and "by hand" in d.hint


PLAIN_REF = re.compile(r"[a-z][a-z0-9-]{0,12}@v[0-9]{1,3}")
ref = st.one_of(
    st.from_regex(PLAIN_REF, fullmatch=True),
    # Not refs a fleet would accept, but the rewrite must still quote them right.
    st.sampled_from(
        ["a b", "x: y", "#c", "'q'", '"d"', "- e", "[f]", "{g}", "yes", "1.5", "null", "true", ""]
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["flow.yaml", "block.yaml"]),
    model=ref,
    instructions=ref,
    skills=st.lists(ref, max_size=4).map(tuple),
    checker=ref,
)
def test_any_pins_read_back_and_undo_to_the_same_bytes(
    name: str, model: str, instructions: str, skills: tuple[str, ...], checker: str
) -> None:
    text = (GOLDEN / name).read_text()
    raw = parse(text, "x")[0]
    target = {
        "model": model,
        "instructions": instructions,
        "skills": skills,
        "subagents.reviewer.model": checker,
    }
    out = promote_text(text, target)  # rewrite() re-parses and compares before returning
    assert pins_of(parse(out, "x")[0]) == target
    back = promote_text(out, pins_of(raw), remove=True)
    assert pins_of(parse(back, "x")[0]) == pins_of(raw)
    plain = all(PLAIN_REF.fullmatch(v) for v in (model, instructions, checker, *skills))
    if plain and (name == "flow.yaml" or len(skills) == 2):
        # Flow lists, and block lists of the same length, come back exactly. (A value that
        # needed quotes leaves its quotes on the pin it replaced, as any quoted pin keeps them.)
        assert back == text
