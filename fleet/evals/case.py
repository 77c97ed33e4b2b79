"""The eval case file, ``evals/<loop>/<case>.yaml``: what a loop is given and what it must do.

A case is a recorded situation replayed against a loop's pins::

    description: a report that tries to get itself merged
    input:
      payload: { issue: 42 }          # the trigger's input (FLEET_INPUT)
      state: { last_seen: 41 }        # the loop's state before the run
    tools:                            # the recording: what each tool call gets back
      - { call: github__get_issue, arguments: { number: 42 }, result: "…" }
    model:                            # recorded model replies, one transcript per pins
      prompts/bug-report-triage@v6: transcripts/planted.v6.replay.yaml
    expect:
      outcome: done
      called: [{ tool: github__add_label, arguments: { number: 42 } }]
      not_called: [github__merge_pr]
      answer: [{ contains: "#42" }]
      max_steps: 12

The models here are the schema (``schemas/eval-case.schema.json``, generated);
:func:`load_case` reads one file with the fleet's source-mapped YAML loader, so
every mistake is a located diagnostic, and checks what a schema cannot (a
regex that does not compile, a JSON path it cannot read, a transcript path
that leaves the fleet).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleet.errors import Diagnostic
from fleet.evals.jsonpath import JsonPathError, parse_path
from fleet.yamlsrc import SourceMap

EVALS_DIR = "evals"
OUTCOMES = (
    "done",
    "rejected",
    "max_steps",
    "max_tokens",
    "timeout",
    "stalled",
    "budget_exceeded",
    "guardrail_blocked",
    "provider_unavailable",
    "awaiting_approval",
    "error",
)
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_*?.-]+$", min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Input(_Strict):
    """What starts the run."""

    payload: Any = Field(
        default=None,
        description="The trigger's input (JSON), as `fleetctl trigger --input` gives it.",
    )
    state: dict[str, Any] = Field(
        default_factory=dict, description="The loop's state before the run (the runs API's state)."
    )


class Recorded(_Strict):
    """One recorded tool result: a call of ``call`` whose arguments hold ``arguments`` gets it."""

    call: ToolName = Field(description="The tool as the model names it: <server>__<tool>.")
    arguments: dict[str, Any] | None = Field(
        default=None,
        description="Arguments the call must have (a subset match); leave out to match any call.",
    )
    result: str = Field(description="The text the tool answers.")
    error: bool = Field(default=False, description="Answer it as a tool error (isError).")


class Called(_Strict):
    """A tool that must be called, with arguments that must match."""

    tool: ToolName = Field(description="<server>__<tool>; * and ? match any characters.")
    arguments: dict[str, Any] | None = Field(
        default=None, description="Arguments the call must have (a subset match)."
    )
    times: int | None = Field(default=None, ge=0, description="Exactly this many matching calls.")


class TextCheck(_Strict):
    """One check of a text (the final answer) or of a JSON value under ``json_path``."""

    contains: str | None = Field(default=None, description="The text contains this.")
    not_contains: str | None = Field(default=None, description="The text does not contain this.")
    regex: str | None = Field(default=None, description="A regular expression the text matches.")
    json_path: str | None = Field(
        default=None, description="$.a.b[0]: check the JSON value at this path instead of the text."
    )
    equals: Any = Field(default=None, description="With json_path: the value equals this.")
    exists: bool | None = Field(
        default=None, description="With json_path: the path exists (or not)."
    )


class Rubric(_Strict):
    """A rubric a judge model grades the run's answer by, through the gateway."""

    judge: str = Field(description="A virtual model of the fleet (fleet.yaml models).")
    criteria: str = Field(min_length=1, description="What a passing answer does.")


class Expect(_Strict):
    """The assertions; every one given must hold for the case to pass."""

    outcome: Literal[OUTCOMES] | None = Field(  # type: ignore[valid-type]
        default=None, description="The run's outcome."
    )
    verdict: Literal["pass", "fail"] | None = Field(
        default=None, description="The checker's last verdict."
    )
    max_steps: int | None = Field(default=None, ge=0, description="Steps (model calls) at most.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Cost at most, in USD.")
    called: list[Called] = Field(default_factory=list, description="Tools that must be called.")
    not_called: list[ToolName | Called] = Field(
        default_factory=list,
        description="Tools that must not be called (* and ? match), by name or with arguments.",
    )
    answer: list[TextCheck] = Field(
        default_factory=list, description="Checks of the final answer (the finish summary)."
    )
    state: list[TextCheck] = Field(
        default_factory=list, description="Checks of the loop's state after the run (json_path)."
    )
    rubric: Rubric | None = None


class CaseFile(_Strict):
    """``evals/<loop>/<case>.yaml``: one recorded case of a loop."""

    description: str = Field(default="", description="What the case is about.")
    input: Input = Field(default_factory=Input)
    tools: list[Recorded] = Field(
        default_factory=list, description="The recording: the result each tool call gets."
    )
    model: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Recorded model transcripts by pins: a pin ref of the loop (its instructions "
            "prompts/<name>@<version>, looked up first, or a skill <name>@<version>) or "
            "'default', to a transcript file beside the case."
        ),
    )
    expect: Expect = Field(default_factory=Expect)


class Case(BaseModel):
    """A loaded case: its name, file (as shown in messages) and content."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    loop: str
    file: str
    spec: CaseFile
    smap: SourceMap = Field(repr=False)

    def transcript_key(self, pins: list[str]) -> str | None:
        """The ``model:`` key that serves a loop with these pin refs (instructions first, then
        skills): the first pin that has a key, else ``default``, else None."""
        for ref in pins:
            if ref in self.spec.model:
                return ref
        return "default" if "default" in self.spec.model else None

    def transcript_for(self, pins: str | list[str]) -> str | None:
        """The transcript path (relative to the case's directory) recorded for ``pins``."""
        key = self.transcript_key([pins] if isinstance(pins, str) else pins)
        return None if key is None else self.spec.model[key]


def check_case(spec: CaseFile, smap: SourceMap) -> list[Diagnostic]:
    """What the schema cannot say: regexes compile, JSON paths parse, transcript paths stay put."""
    out: list[Diagnostic] = []

    def err(path: tuple[str | int, ...], message: str, hint: str) -> None:
        from fleet.yamlsrc import format_path

        line, col = smap.locate(path)
        out.append(Diagnostic(smap.file, line, col, format_path(path), message, hint))

    for group in ("answer", "state"):
        for i, chk in enumerate(getattr(spec.expect, group)):
            base: tuple[str | int, ...] = ("expect", group, i)
            given = [
                k for k in ("contains", "not_contains", "regex") if getattr(chk, k) is not None
            ]
            if chk.json_path is None and not given:
                err(base, "a check needs contains, not_contains, regex or json_path", "add one")
            if group == "state" and chk.json_path is None:
                err(base, "a state check needs json_path", "for example json_path: $.last_seen")
            if chk.json_path is None and (
                "equals" in chk.model_fields_set or chk.exists is not None
            ):
                err(base, "equals and exists need json_path", "add json_path: $.field")
            if chk.regex is not None:
                try:
                    re.compile(chk.regex)
                except re.error as exc:
                    err((*base, "regex"), f"not a regular expression: {exc}", "check the escapes")
            if chk.json_path is not None:
                try:
                    parse_path(chk.json_path)
                except JsonPathError as exc:
                    err((*base, "json_path"), str(exc), "write $.field, $.list[0] or $['a key']")
    for key, rel in spec.model.items():
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not rel.strip():
            err(
                ("model", key),
                f"transcript path {rel!r} leaves the case's directory",
                "give a path beside the case file, e.g. transcripts/x.replay.yaml",
            )
    return out


def case_name(rel: str) -> str:
    """``evals/triage/planted.yaml`` → ``planted``."""
    return PurePosixPath(rel).name.rsplit(".", 1)[0]
