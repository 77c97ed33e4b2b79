"""What a detector reports: a :class:`Finding` per span of the caller's text, a masked
copy of what it found, and :func:`redact` to replace the spans."""

from __future__ import annotations

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
