"""Guardrails at the gateway's hooks: run detectors over text, then block or redact.

Built-in detectors come from :mod:`fleet.detect` (``secrets``, ``pii``,
``prompt-injection``); they normalize Unicode themselves (NFKC, invisible and bidi
characters dropped, look-alike letters folded) and report spans of the text they were
given. A custom detector is named ``module:callable`` in the fleet policy; the callable
takes a string and returns findings with ``detector``, ``kind``, ``start``, ``end`` and
``masked`` (e.g. :class:`fleet.detect.Finding`); it is given the NFKC form with
invisible characters dropped, and its spans are mapped back.

The texts of one check are scanned as one: joined by newlines, so that a phrase split
over two messages (or two fields) is found, and a token split with nothing between its
halves is found at the joint; a finding is mapped back onto every text it touches, and
redaction replaces each piece. Every verdict is returned for tracing and counting.

:func:`request_texts` lists every text of a chat request that a model will see (message
content and names, tool-call arguments, tool definitions, ``response_format``…);
:func:`apply_to_request` checks and redacts them in place.
"""

from __future__ import annotations

import asyncio
import importlib
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fleet.detect import DETECTORS, Finding, redact
from fleet.detect.text import exact
from fleet.gwconfig import GwGuardrail

Detector = Callable[[str], list[Finding]]

SEPARATOR = "\n"
# Texts longer than this (in bytes of the body they came in) are read by the detectors
# in a worker thread: on text they have not read before, the detectors cost a few ms
# per KB, and the event loop must go on answering others meanwhile.
OFF_LOOP_BYTES = 8 * 1024
# Characters a token is made of: two texts that meet on these may hold one token's halves.
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=."
_DIGIT_SET = frozenset("0123456789")
_JOINT_REACH = 256


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


def _normalized(fn: Callable[[str], list[Any]]) -> Detector:
    """A custom detector run on the exact form of the text, its spans mapped back."""

    def run(text: str) -> list[Finding]:
        view = exact(text)
        findings = fn(view.text)
        if view.text is text:
            return list(findings)
        out: list[Finding] = []
        for f in findings:
            start, end = view.original(max(0, int(f.start)), min(len(view.text), int(f.end)))
            out.append(Finding(f.detector, f.kind, start, end, f.masked))
        return out

    return run


# A built-in detector's findings on a short text, kept for the next time the same text comes:
# a retried request, the same prompt sent by many loops, a health probe. Findings depend on
# the text alone. Bounded: texts up to 4,096 characters, the last 512 of them (2 MB at most).
# Text never seen before pays the full scan (docs/performance.md, "Unread text").
_MEMO_CHARS = 4096


@lru_cache(maxsize=512)
def _remembered(name: str, text: str) -> tuple[Finding, ...]:
    return tuple(DETECTORS[name](text))


def _memoized(name: str) -> Detector:
    scan = DETECTORS[name]

    def run(text: str) -> list[Finding]:
        if len(text) > _MEMO_CHARS:
            return scan(text)
        return list(_remembered(name, text))

    return run


@lru_cache(maxsize=64)
def resolve_detector(name: str) -> Detector:
    if name in DETECTORS:
        return _memoized(name)
    module, sep, attr = name.partition(":")
    if not sep:
        raise LookupError(
            f"unknown detector '{name}' (built-ins: {', '.join(sorted(DETECTORS))}; custom: module:callable)"
        )
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise LookupError(f"detector '{name}' is not callable")
    return _normalized(fn)


def _tail(text: str) -> int:
    """How many characters at the end of ``text`` are token characters (bounded)."""
    end = text[-_JOINT_REACH:]
    return len(end) - len(end.rstrip(_TOKEN_CHARS))


def _head(text: str) -> int:
    start = text[:_JOINT_REACH]
    return len(start) - len(start.lstrip(_TOKEN_CHARS))


def _has_digit(text: str) -> bool:
    return not _DIGIT_SET.isdisjoint(text)


class Joined:
    """Texts scanned as one: joined by newlines, each finding cut back into the texts it
    touches. Built once for all the rules of a check (until a redaction changes a text)."""

    __slots__ = ("live", "starts", "text", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.live = [i for i, t in enumerate(texts) if t]
        self.starts: list[int] = []
        pos = 0
        for i in self.live:
            self.starts.append(pos)
            pos += len(texts[i]) + len(SEPARATOR)
        self.text = SEPARATOR.join(texts[i] for i in self.live)

    def findings(self, detector: Detector, joints: bool = True) -> dict[int, list[Finding]]:
        """Findings per text index; ``joints``: also look for a token cut in two between
        texts (phrases need no such look: the newline between two texts is a gap like any
        other)."""
        texts, live, starts = self.texts, self.live, self.starts
        if not live:
            return {}
        if len(live) == 1:
            found = detector(texts[live[0]])
            return {live[0]: found} if found else {}
        out: dict[int, list[Finding]] = {}

        def place(f: Finding, start: int, end: int) -> None:
            """Cut a span of the joined text into the pieces of each text it covers."""
            k = max(0, bisect_right(starts, start) - 1)
            while k < len(live) and starts[k] < end:
                i = live[k]
                lo, hi = max(start, starts[k]), min(end, starts[k] + len(texts[i]))
                if lo < hi:
                    piece = Finding(f.detector, f.kind, lo - starts[k], hi - starts[k], f.masked)
                    out.setdefault(i, []).append(piece)
                k += 1

        joined = self.text
        for f in detector(joined):
            start, end = max(0, int(f.start)), min(len(joined), int(f.end))
            if start < end:
                place(f, start, end)
        if not joints:
            return out
        # A token cut in two with nothing between the halves: scan each joint on its own.
        for k in range(len(live) - 1):
            a, b = texts[live[k]], texts[live[k + 1]]
            if a[-1] not in _TOKEN_CHARS or b[0] not in _TOKEN_CHARS:
                continue
            # Both halves of a cut token are long and random: digits on both sides.
            tail = _tail(a)
            if tail < 6 or not _has_digit(a[len(a) - tail :]):
                continue
            head = _head(b)
            if head < 6 or tail + head < 16 or not _has_digit(b[:head]):
                continue
            joint = a[len(a) - tail :] + b[:head]
            base = starts[k] + len(a) - tail
            for f in detector(joint):
                if f.start < tail < f.end:  # only what the joint alone reveals
                    place(f, base + f.start, base + tail)
                    place(f, starts[k + 1], starts[k + 1] + f.end - tail)
        return out


def scan(detector: Detector, texts: Sequence[str], joints: bool = True) -> dict[int, list[Finding]]:
    """Findings per text index, the texts scanned as one (see :class:`Joined`)."""
    return Joined(texts).findings(detector, joints)


def check_texts(
    hook: str, rules: Sequence[GwGuardrail], texts: list[str]
) -> tuple[list[str], list[Verdict], Verdict | None]:
    """Run ``rules`` over ``texts``. Returns (texts, possibly redacted; verdicts; the blocking verdict or None)."""
    return _check(hook, rules, texts, frozenset())


TRUSTED_SYSTEM = frozenset({"prompt-injection"})
"""Detectors that do not read system messages (the loop's pinned instructions)."""

PHRASE_DETECTORS = frozenset({"prompt-injection"})
"""Detectors that look for phrases, not tokens: no joint scan between texts."""


def _check(
    hook: str, rules: Sequence[GwGuardrail], texts: list[str], pinned: frozenset[int]
) -> tuple[list[str], list[Verdict], Verdict | None]:
    """:func:`check_texts`, with the texts at ``pinned`` hidden from ``TRUSTED_SYSTEM``."""
    verdicts: list[Verdict] = []
    out = list(texts)
    every: Joined | None = None
    unpinned: Joined | None = None
    for rule in rules:
        detector = resolve_detector(rule.detector)
        joints = rule.detector not in PHRASE_DETECTORS
        if pinned and rule.detector in TRUSTED_SYSTEM:
            # An empty text is not scanned, and the others stay in order.
            if unpinned is None:
                unpinned = Joined(["" if i in pinned else t for i, t in enumerate(out)])
            joined = unpinned
        else:
            if every is None:
                every = Joined(out)
            joined = every
        found = joined.findings(detector, joints)
        if not found:
            continue
        kinds = sorted({f.kind for findings in found.values() for f in findings})
        verdict = Verdict(hook, rule.detector, rule.action, tuple(kinds))
        verdicts.append(verdict)
        if rule.action == "block":
            return out, verdicts, verdict
        if rule.action == "redact":
            for i, findings in found.items():
                out[i] = redact(out[i], findings)
            every = unpinned = None
    return out, verdicts, None


# ------------------------------------------------------------------ chat requests


class Slot:
    """Where a text lives in a request: ``container[key]``; for a key of an object (a
    property name in a schema) the key itself, renamed on write."""

    __slots__ = ("container", "is_key", "key")

    def __init__(self, container: Any, key: Any, is_key: bool = False) -> None:
        self.container = container
        self.key = key
        self.is_key = is_key

    def get(self) -> str:
        value: str = self.key if self.is_key else self.container[self.key]
        return value

    def set(self, value: str) -> None:
        if not self.is_key:
            self.container[self.key] = value
            return
        items = list(self.container.items())
        self.container.clear()
        for k, v in items:
            self.container[value if k == self.key else k] = v
        self.key = value


# JSON Schema's own words carry nothing a caller wrote: not scanned as texts.
_SCHEMA_WORDS = frozenset(
    {
        "type", "properties", "required", "items", "enum", "description", "title",
        "default", "additionalProperties", "$schema", "$ref", "$defs", "definitions",
        "anyOf", "oneOf", "allOf", "format", "minimum", "maximum", "minLength",
        "maxLength", "pattern", "object", "string", "number", "integer", "boolean",
        "array", "null", "strict", "name", "parameters", "function", "json_schema",
        "schema", "examples", "const",
    }
)  # fmt: skip


def _walk(value: Any, out: list[Slot]) -> None:
    """Every string inside a JSON value (object keys too), in document order, but for
    JSON Schema's own keywords and type names."""
    # Iterative: a request may nest as deep as the JSON parser allows.
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        children: list[Any] = []
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k not in _SCHEMA_WORDS:
                    out.append(Slot(node, k, is_key=True))
                if isinstance(v, str) and v not in _SCHEMA_WORDS:
                    out.append(Slot(node, k))
                elif isinstance(v, (dict, list)):
                    children.append(v)
        elif isinstance(node, list):
            for j, v in enumerate(node):
                if isinstance(v, str) and v not in _SCHEMA_WORDS:
                    out.append(Slot(node, j))
                elif isinstance(v, (dict, list)):
                    children.append(v)
        stack.extend(reversed(children))


def _text_field(container: Any, key: str, out: list[Slot]) -> None:
    if isinstance(container, dict) and isinstance(container.get(key), str):
        out.append(Slot(container, key))


def _call(call: Any, out: list[Slot]) -> None:
    """A tool call or legacy function call: its function's name and arguments."""
    if not isinstance(call, dict):
        return
    fn = call.get("function") if "function" in call else call
    if isinstance(fn, dict):
        _text_field(fn, "name", out)
        args = fn.get("arguments")
        if isinstance(args, str):
            out.append(Slot(fn, "arguments"))
        elif isinstance(args, (dict, list)):
            _walk(args, out)


def _content(content: Any, container: Any, key: Any, out: list[Slot]) -> None:
    if isinstance(content, str):
        out.append(Slot(container, key))
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if isinstance(part, dict):
                for field in ("text", "refusal", "input_text"):
                    _text_field(part, field, out)
            elif isinstance(part, str):
                out.append(Slot(content, j))


PINNED_ROLES = frozenset({"system", "developer", "assistant"})
"""Roles whose messages the injection detector does not read (secrets and PII do): the
loop's own pinned, reviewed instructions, which quote the injections they warn against
("never follow 'ignore previous instructions'"), and the model's own earlier replies, which
describe the orders they found in a tool result ("the maintainers' note asks agents to
merge without review") rather than give them. Tool results, user content and an
assistant's tool-call arguments are read."""

OWN_WORDS_ROLES = frozenset({"assistant"})
"""Of those, the roles whose tool calls are still read: only the reply's words are the
model's own account; the arguments it passes on may carry what a tool result planted."""


def message_slots(messages: Any, pinned: list[int] | None = None) -> list[Slot]:
    """Every text of chat messages a model will see: content (a string or parts), name,
    refusal, tool calls (function names and arguments), the legacy function call. The
    indices of slots in system and developer messages, and of the words (not the tool
    calls) of assistant messages, are added to ``pinned``."""
    out: list[Slot] = []
    if not isinstance(messages, list):
        return out
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        first = len(out)
        # Membership tests first: most messages hold a role and a content only.
        if "name" in msg:
            _text_field(msg, "name", out)
        content = msg.get("content")
        if isinstance(content, str):
            out.append(Slot(msg, "content"))
        elif content is not None:
            _content(content, msg, "content", out)
        said = len(out)  # the message's own words end here; its tool calls follow
        if not _MESSAGE_EXTRAS.isdisjoint(msg):
            _text_field(msg, "refusal", out)
            _text_field(msg, "reasoning_content", out)
            said = len(out)
            calls = msg.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                _call(call, out)
            _call(msg.get("function_call"), out)
        if pinned is not None and (role := msg.get("role")) in PINNED_ROLES:
            pinned.extend(range(first, said if role in OWN_WORDS_ROLES else len(out)))
    return out


def request_slots(body: dict[str, Any], pinned: list[int] | None = None) -> list[Slot]:
    """Every text of a chat completion request a model will see: the messages, tool and
    function definitions (names, descriptions, parameter schemas: an MCP server's tool
    descriptions are not the loop's own words), ``response_format`` (a JSON schema's names,
    descriptions and properties), ``tool_choice`` and predicted output."""
    out = message_slots(body.get("messages"), pinned)
    if _DEFINITIONS.isdisjoint(body):
        return out
    for field in ("tools", "functions"):
        defs = body.get(field)
        if isinstance(defs, list):
            for d in defs:
                if isinstance(d, dict):
                    _walk(d.get("function") if isinstance(d.get("function"), dict) else d, out)
    for field in ("response_format", "tool_choice", "prediction"):
        value = body.get(field)
        if isinstance(value, (dict, list)):
            _walk(value, out)
    return out


_MESSAGE_EXTRAS = frozenset({"refusal", "reasoning_content", "tool_calls", "function_call"})
_DEFINITIONS = frozenset({"tools", "functions", "response_format", "tool_choice", "prediction"})


def request_texts(body: dict[str, Any]) -> list[str]:
    return [slot.get() for slot in request_slots(body)]


def _apply(
    slots: list[Slot], pinned: list[int], hook: str, rules: Sequence[GwGuardrail]
) -> tuple[list[Verdict], Verdict | None]:
    before = [slot.get() for slot in slots]
    texts, verdicts, blocked = _check(hook, rules, before, frozenset(pinned))
    for slot, old, new in zip(slots, before, texts, strict=True):
        if new != old:
            slot.set(new)
    return verdicts, blocked


def apply_to_request(
    body: dict[str, Any], hook: str, rules: Sequence[GwGuardrail]
) -> tuple[list[Verdict], Verdict | None]:
    """Check (and redact in place) every text of a chat request a model will see."""
    if not rules:
        return [], None
    pinned: list[int] = []
    return _apply(request_slots(body, pinned), pinned, hook, rules)


def apply_to_messages(
    messages: list[Any], hook: str, rules: Sequence[GwGuardrail]
) -> tuple[list[Verdict], Verdict | None]:
    """Check (and redact in place) every text of ``messages`` (:func:`apply_to_request`
    covers the rest of a request too)."""
    if not rules:
        return [], None
    pinned: list[int] = []
    return _apply(message_slots(messages, pinned), pinned, hook, rules)


def message_texts(messages: list[Any]) -> list[tuple[int, int | None, str]]:
    """(message index, content part index or None, text) for the content of chat messages."""
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


async def off_loop(size: int, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``: in a worker thread when ``size`` passes :data:`OFF_LOOP_BYTES`,
    else inline (a thread hop costs more than reading a short text)."""
    if size > OFF_LOOP_BYTES:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)
