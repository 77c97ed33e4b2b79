"""The checker's verdict: pass or fail with reasons, read from a structured reply.

The checker answers with the ``verdict`` tool (``{"verdict": "pass"|"fail",
"reasons": [...]}``) or, failing that, with a JSON object of the same shape in
its text. Anything else, a verdict other than pass or fail, two different
verdicts, or no verdict at all, is a fail: a checker that cannot say "pass"
clearly has not passed the claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

VERDICT_TOOL = "verdict"
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["verdict", "reasons"],
    "additionalProperties": False,
}

NO_VERDICT = "the checker gave no clear verdict (a pass must be the verdict tool or a JSON object)"
_OBJECT = re.compile(r"\{[^{}]*\}")  # flat objects only: linear, no nesting to balance


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]
    clear: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"verdict": "pass" if self.passed else "fail", "reasons": list(self.reasons)}


def _from_object(obj: Any) -> Verdict | None:
    if not isinstance(obj, dict):
        return None
    word = obj.get("verdict")
    if not isinstance(word, str) or word.strip().lower() not in ("pass", "fail"):
        return None
    raw = obj.get("reasons")
    if isinstance(raw, str):
        reasons: tuple[str, ...] = (raw,)
    elif isinstance(raw, list):
        reasons = tuple(str(r) for r in raw)
    else:
        reasons = ()
    return Verdict(word.strip().lower() == "pass", reasons)


def from_arguments(arguments: Any) -> Verdict:
    """The verdict tool's arguments (already decoded) → a verdict; malformed is a fail."""
    found = _from_object(arguments)
    if found is None:
        return Verdict(False, (f"{NO_VERDICT}: malformed verdict arguments",), clear=False)
    return found


def from_text(text: str | None) -> Verdict:
    """A JSON verdict object in the checker's text; none, or conflicting ones, is a fail."""
    found: list[Verdict] = []
    if text:
        stripped = text.strip()
        candidates = [stripped] if stripped.startswith("{") else []
        candidates += _OBJECT.findall(text)
        for blob in candidates:
            try:
                v = _from_object(orjson.loads(blob))
            except orjson.JSONDecodeError:
                continue
            if v is not None:
                found.append(v)
    if not found:
        return Verdict(False, (NO_VERDICT,), clear=False)
    if len({v.passed for v in found}) > 1:
        return Verdict(False, (f"{NO_VERDICT}: it gave both pass and fail",), clear=False)
    return found[0]
