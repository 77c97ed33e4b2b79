"""``fleet.lock``: every pin of the fleet → its content digest and source.

Versions are immutable. When the content behind ``triage-runbook@v3``
changes without a new version, its digest no longer matches the lock and
validation fails: that is the "someone edited the skill" incident, caught in
review instead of at 6 a.m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.errors import Diagnostic
from fleet.yamlsrc import SourceMap, parse

LOCK_FILE = "fleet.lock"
HEADER = "# fleet.lock: written by `fleetctl lock`. Do not edit: a changed digest means changed content.\n"


@dataclass(frozen=True)
class LockEntry:
    digest: str
    source: str


def dump(entries: dict[str, LockEntry]) -> str:
    """Deterministic text: sorted keys, one pin per line."""
    lines = [HEADER.rstrip("\n"), "version: 1", "pins:"]
    if not entries:
        lines[-1] = "pins: {}"
    for key in sorted(entries):
        e = entries[key]
        lines.append(f'  "{key}": {{digest: "{e.digest}", source: {e.source}}}')
    return "\n".join(lines) + "\n"


def load(text: bytes, file: str) -> tuple[dict[str, LockEntry], SourceMap, list[Diagnostic]]:
    data, smap, diags = parse(text, file)
    entries: dict[str, LockEntry] = {}
    if diags:
        return entries, smap, diags
    pins: Any = data.get("pins") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(pins, dict):
        return (
            entries,
            smap,
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    "",
                    "not a fleet.lock of version 1",
                    "regenerate it with `fleetctl lock`",
                )
            ],
        )
    for key, value in pins.items():
        if not (
            isinstance(value, dict)
            and isinstance(value.get("digest"), str)
            and isinstance(value.get("source"), str)
        ):
            line, col = smap.locate(("pins", key))
            diags.append(
                Diagnostic(
                    file,
                    line,
                    col,
                    f"pins.{key}",
                    "malformed entry",
                    "regenerate the lock with `fleetctl lock`",
                )
            )
            continue
        entries[str(key)] = LockEntry(value["digest"], value["source"])
    return entries, smap, diags
