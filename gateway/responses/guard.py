"""Every text of a Responses request a model will see, for the ``llm_input`` guardrails.

The guardrails find texts in a chat request by its shape
(:func:`gateway.guardrails.request_slots`); a Responses request has another
shape, and the texts must be redacted where they are, in the caller's own
body, because that body is what a provider that speaks Responses is sent. So
the slots are listed here, over the Responses fields: ``instructions``, the
input (a string, or each item's content parts, function call names and
arguments, function call outputs), tool definitions (names, descriptions,
parameter schemas), ``tool_choice`` and ``text.format``. As on chat, the
instructions and system/developer messages are the loop's own pinned words:
the prompt-injection detector does not read them, the secret and PII
detectors do.

One pass over the body; the detectors' cost is the guardrails' own (linear).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet.gwconfig import GwGuardrail
from gateway.guardrails import PINNED_ROLES, Slot, Verdict, _check, _walk

HOOK = "llm_input"


def slots(body: dict[str, Any], pinned: list[int]) -> list[Slot]:
    """The texts of a checked Responses request (see :func:`gateway.responses.request.check`)."""
    out: list[Slot] = []
    if isinstance(body.get("instructions"), str):
        pinned.append(len(out))
        out.append(Slot(body, "instructions"))
    value = body.get("input")
    if isinstance(value, str):
        out.append(Slot(body, "input"))
    for item in value if isinstance(value, list) else []:
        first = len(out)
        kind = item.get("type", "message")
        if kind == "message":
            _content(item, "content", out)
        elif kind == "function_call":
            out.append(Slot(item, "name"))
            out.append(Slot(item, "arguments"))
        elif kind == "function_call_output":
            _content(item, "output", out)
        if kind == "message" and item.get("role") in PINNED_ROLES:
            pinned.extend(range(first, len(out)))
    for tool in body.get("tools") or []:
        _walk(tool, out)
    for value in (body.get("tool_choice"), (body.get("text") or {}).get("format")):
        if isinstance(value, dict):
            _walk(value, out)
    return out


def _content(container: dict[str, Any], key: str, out: list[Slot]) -> None:
    content = container.get(key)
    if isinstance(content, str):
        out.append(Slot(container, key))
        return
    for part in content if isinstance(content, list) else []:
        for field in ("text", "refusal"):
            if isinstance(part.get(field), str):
                out.append(Slot(part, field))


def scan(
    body: dict[str, Any], rules: Sequence[GwGuardrail]
) -> tuple[list[Verdict], Verdict | None, bool]:
    """Run ``rules`` over the request's texts, redacting in place: (verdicts, the blocking
    verdict or None, whether any text changed)."""
    pinned: list[int] = []
    found = slots(body, pinned)
    before = [slot.get() for slot in found]
    texts, verdicts, blocked = _check(HOOK, rules, before, frozenset(pinned))
    changed = False
    for slot, old, new in zip(found, before, texts, strict=True):
        if new != old:
            slot.set(new)
            changed = True
    return verdicts, blocked, changed
