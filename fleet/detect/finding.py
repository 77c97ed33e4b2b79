"""What a detector reports: a :class:`Finding` per span of the caller's text, a masked
copy of what it found, and :func:`redact` to replace the spans."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    detector: str  # "secrets", "pii", "prompt-injection"
    kind: str  # e.g. "aws-access-key", "email", "instruction-override"
    start: int
    end: int
    masked: str


def mask(value: str) -> str:
    """Enough of a value to recognise it, never enough to use it."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}…{value[-4:]}" if len(value) >= 16 else f"{value[:2]}…{value[-2:]}"


def snippet(value: str) -> str:
    """A short quote of a phrase (injection findings are phrases, not secrets)."""
    value = " ".join(value.split())
    return value[:40] + ("…" if len(value) > 40 else "")


def redact(text: str, findings: list[Finding]) -> str:
    """Replace every finding's span with ``[REDACTED:<kind>]``; overlapping spans merge."""
    if not findings:
        return text
    spans = sorted((f.start, f.end, f.kind) for f in findings)
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            if end > pos:
                pos = end
            continue
        out.append(text[pos:start])
        out.append(f"[REDACTED:{kind}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def overlaps(starts: list[int], ends: list[int], s: int, e: int) -> bool:
    """Whether ``[s, e)`` overlaps one of the disjoint, sorted spans of :func:`merge_spans`: the
    one that can is the last to start before ``e`` (a bisection, not a walk over them all)."""
    i = bisect_left(starts, e) - 1
    return i >= 0 and ends[i] > s


def merge_spans(spans: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Spans merged into disjoint ones, as sorted starts and their ends."""
    starts: list[int] = []
    ends: list[int] = []
    for s, e in sorted(spans):
        if ends and s < ends[-1]:
            ends[-1] = max(ends[-1], e)
        else:
            starts.append(s)
            ends.append(e)
    return starts, ends
