"""``fleet.lock``: every pin of the fleet → its content digest and source.

Versions are immutable. When the content behind ``triage-runbook@v3``
changes without a new version, its digest no longer matches the lock and
validation fails: that is the "someone edited the skill" incident, caught in
review instead of at 6 a.m. ``fleetctl lock`` does not paper over it either:
:func:`relock` refuses to re-digest a locked version unless that one ref is
named with ``--rehash``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import Diagnostic, did_you_mean
from fleet.yamlsrc import SourceMap, parse

LOCK_FILE = "fleet.lock"
_BROKEN = (
    "restore it from version control, or delete it and run `fleetctl lock` to lock every pin afresh"
)
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
                    _BROKEN,
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
                    _BROKEN,
                )
            )
            continue
        entries[str(key)] = LockEntry(value["digest"], value["source"])
    return entries, smap, diags


@dataclass
class Relock:
    """What ``fleetctl lock`` may write, and why it may not."""

    entries: dict[str, LockEntry]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    rehashed: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Versions whose digest ``--rehash`` let change: key → (old digest, new digest)."""
    unknown: dict[str, str] = field(default_factory=dict)
    """``--rehash`` refs that name no locked pin whose content changed: ref → hint."""
    unreadable: bool = False
    """The lock on disk does not parse: nothing can be told apart, nothing is written."""


def rehash_key(ref: str, keys: Collection[str]) -> str | None:
    """The lock key ``ref`` means: ``skills/x@v1``, ``prompts/x@v1``, or ``x@v1`` as written."""
    if ref in keys:
        return ref
    for kind in ("skills", "prompts"):
        if f"{kind}/{ref}" in keys:
            return f"{kind}/{ref}"
    return None


def relock(
    current: dict[str, LockEntry],
    old_text: bytes | None,
    file: str,
    rehash: Collection[str] = (),
) -> Relock:
    """The lock to write for ``current``, given the lock on disk.

    A versioned pin already locked whose digest changed is refused (versions are
    immutable: the fix is a new version) unless its ref is in ``rehash``. A pin
    without ``@version`` follows its latest version, so its digest may move.
    """
    out = Relock(dict(current))
    if old_text is None:
        out.unknown = {
            r: "fleet.lock does not exist yet: there is nothing to rehash" for r in rehash
        }
        return out
    old, smap, diags = load(old_text, file)
    if diags:
        out.diagnostics, out.unreadable = diags, True
        return out
    changed = {
        key: (old[key].digest, entry.digest)
        for key, entry in current.items()
        if key in old and old[key].digest != entry.digest and "@" in key
    }
    wanted: set[str] = set()
    for ref in rehash:
        key = rehash_key(ref, changed)
        if key is None:
            known = rehash_key(ref, current)
            out.unknown[ref] = (
                f"the content of '{known}' has not changed"
                if known
                else did_you_mean(ref, changed or current) or "the fleet has no pins"
            )
        else:
            wanted.add(key)
    for key, (before, after) in sorted(changed.items()):
        if key in wanted:
            out.rehashed[key] = (before, after)
            continue
        line, col = smap.locate(("pins", key))
        name, _, version = key.partition("@")
        name = name.partition("/")[2] or name  # "skills/runbook" → "runbook", as users write it
        out.diagnostics.append(
            Diagnostic(
                file,
                line,
                col,
                f"pins.{key}",
                f"content of '{key}' changed since it was locked "
                f"({before[:19]}… → {after[:19]}…); refusing to re-digest an existing version",
                f"versions are immutable: publish the change as a new version of '{name}' and pin "
                f"that; only if {version} was never used, `fleetctl lock --rehash {key}`",
                "FL203",
            )
        )
    return out
