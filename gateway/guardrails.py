"""Guardrails at the gateway's hooks: run detectors over text, then block or redact.

Built-in detectors come from :mod:`fleet.detect` (``secrets``, ``pii``,
``prompt-injection``). A custom detector is named ``module:callable`` in the
fleet policy; the callable takes a string and returns findings with
``detector``, ``kind``, ``start``, ``end`` and ``masked`` (e.g.
:class:`fleet.detect.Finding`). Every verdict is returned for tracing and counting.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fleet.detect import DETECTORS, Finding, redact
from fleet.gwconfig import GwGuardrail

Detector = Callable[[str], list[Finding]]


@dataclass(frozen=True)
class Verdict:
    hook: str
    detector: str
    action: str  # block | redact
    kinds: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "detector": self.detector,
            "action": self.action,
            "kinds": list(self.kinds),
        }


@lru_cache(maxsize=64)
def resolve_detector(name: str) -> Detector:
    if name in DETECTORS:
        return DETECTORS[name]
    module, sep, attr = name.partition(":")
    if not sep:
        raise LookupError(
            f"unknown detector '{name}' (built-ins: {', '.join(sorted(DETECTORS))}; custom: module:callable)"
        )
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise LookupError(f"detector '{name}' is not callable")
    return fn  # type: ignore[no-any-return,unused-ignore]


def check_texts(
    hook: str, rules: Sequence[GwGuardrail], texts: list[str]
) -> tuple[list[str], list[Verdict], Verdict | None]:
    """Run ``rules`` over ``texts``. Returns (texts, possibly redacted; verdicts; the blocking verdict or None)."""
    verdicts: list[Verdict] = []
    out = list(texts)
    for rule in rules:
        detector = resolve_detector(rule.detector)
        kinds: list[str] = []
        for i, text in enumerate(out):
            if not text:
                continue
            findings = detector(text)
            if not findings:
                continue
            kinds.extend(f.kind for f in findings)
            if rule.action == "redact":
                out[i] = redact(text, findings)
        if kinds:
            verdict = Verdict(hook, rule.detector, rule.action, tuple(sorted(set(kinds))))
            verdicts.append(verdict)
            if rule.action == "block":
                return out, verdicts, verdict
    return out, verdicts, None


def message_texts(messages: list[Any]) -> list[tuple[int, int | None, str]]:
    """(message index, content part index or None, text) for every text in chat messages."""
    out: list[tuple[int, int | None, str]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        content = msg.get("content")
        if isinstance(content, str):
            out.append((i, None, content))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append((i, j, part["text"]))
    return out


def apply_to_messages(
    messages: list[Any], hook: str, rules: Sequence[GwGuardrail]
) -> tuple[list[Verdict], Verdict | None]:
    """Check (and redact in place) every text of ``messages``."""
    if not rules:
        return [], None
    spots = message_texts(messages)
    # System messages carry the loop's own pinned, reviewed instructions, which quote the
    # injections they warn against ("never follow 'ignore previous instructions'"): the
    # injection detector reads everything else; secrets and PII read them too.
    system = [s for s in spots if _role(messages[s[0]]) == "system"]
    others = [s for s in spots if _role(messages[s[0]]) != "system"]
    trusted = [r for r in rules if r.detector not in TRUSTED_SYSTEM]
    verdicts: list[Verdict] = []
    for group, group_rules in ((others, rules), (system, trusted)):
        if not group or not group_rules:
            continue
        texts, found, blocked = check_texts(hook, group_rules, [t for _, _, t in group])
        verdicts.extend(found)
        for (i, j, before), after in zip(group, texts, strict=True):
            if after != before:
                if j is None:
                    messages[i]["content"] = after
                else:
                    messages[i]["content"][j]["text"] = after
        if blocked is not None:
            return verdicts, blocked
    return verdicts, None


TRUSTED_SYSTEM = frozenset({"prompt-injection"})
"""Detectors that do not read system messages (the loop's pinned instructions)."""


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None
