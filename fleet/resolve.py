"""Resolve every pin of a loaded fleet to content, and check it against ``fleet.lock``.

This is the last stage of validation: ``fleetctl validate`` = load + rules +
:func:`check`; ``fleetctl lock`` writes what :func:`resolve_all` found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet.errors import Diagnostic, GitError, ReadError, Severity, sort_diagnostics
from fleet.load import LoadedAgent, LoadedFleet
from fleet.lockfile import LOCK_FILE, LockEntry
from fleet.lockfile import load as load_lock
from fleet.registry import NotFound, Pin, Registries, Resolved
from fleet.source import Source
from fleet.validate import Report, validate
from fleet.yamlsrc import Path as DataPath
from fleet.yamlsrc import format_path


@dataclass
class Resolution:
    pins: dict[str, Resolved] = field(default_factory=dict)  # by Pin.key
    by_ref: dict[tuple[str, DataPath], Resolved] = field(
        default_factory=dict
    )  # (agent file, path) → content
    diagnostics: list[Diagnostic] = field(default_factory=list)


def refs_of(la: LoadedAgent) -> Iterator[tuple[DataPath, Pin]]:
    """Every pinned reference of a loop and its sub-agents, with its data path."""
    members = [(("agent",), la.agent)] + [
        (("agent", "subagents", i), s) for i, s in enumerate(la.agent.subagents)
    ]
    for path, member in members:
        if member.instructions:
            yield (*path, "instructions"), Pin.parse(member.instructions, "prompts")
        for i, skill in enumerate(member.skills):
            yield (*path, "skills", i), Pin.parse(skill, "skills")


def registries_for(loaded: LoadedFleet) -> Registries:
    base = getattr(loaded.source, "root", None)
    return Registries(loaded.source, loaded.fleet.registries, base)


def resolve_all(loaded: LoadedFleet, registries: Registries | None = None) -> Resolution:
    regs = registries or registries_for(loaded)
    res = Resolution()
    for la in loaded.agents:
        for path, pin in refs_of(la):
            try:
                resolved = regs.resolve(pin)
            except NotFound as exc:
                line, col = la.smap.locate(path)
                shown = ", ".join(exc.available[:10]) or "none"
                what = "versions" if pin.version and "version" in str(exc) else f"{pin.kind}"
                res.diagnostics.append(
                    Diagnostic(
                        la.file,
                        line,
                        col,
                        format_path(path),
                        str(exc),
                        f"available {what}: {shown}",
                        "FL201",
                    )
                )
                continue
            except ReadError as exc:
                line, col = la.smap.locate(path)
                res.diagnostics.append(
                    Diagnostic(
                        la.file,
                        line,
                        col,
                        format_path(path),
                        f"{exc.path} {exc.message}",
                        exc.hint,
                    )
                )
                continue
            except GitError as exc:
                line, col = la.smap.locate(path)
                res.diagnostics.append(
                    Diagnostic(
                        la.file,
                        line,
                        col,
                        format_path(path),
                        str(exc),
                        "check registries: in fleet.yaml",
                        "FL201",
                    )
                )
                continue
            res.pins[pin.key] = resolved
            res.by_ref[(la.file, path)] = resolved
    return res


def lock_entries(res: Resolution) -> dict[str, LockEntry]:
    return {key: LockEntry(r.digest, r.source) for key, r in res.pins.items()}


def check_lock(source: Source, res: Resolution, lock_file: str = LOCK_FILE) -> list[Diagnostic]:
    shown = f"{source.label.rstrip('/')}/{lock_file}" if source.label else lock_file
    try:
        text = source.read(lock_file)
    except ReadError as exc:
        return [Diagnostic(shown, 0, 0, "", exc.message, exc.hint, "FL202")]
    if text is None:
        return [
            Diagnostic(
                shown,
                0,
                0,
                "",
                "no fleet.lock: pins are not locked to content digests",
                "run `fleetctl lock` and commit fleet.lock",
                "FL202",
            )
        ]
    entries, smap, diags = load_lock(text, shown)
    if diags:
        return diags
    out: list[Diagnostic] = []
    for key, resolved in sorted(res.pins.items()):
        entry = entries.get(key)
        if entry is None:
            line, col = smap.locate(("pins",), key=True)
            out.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "pins",
                    f"'{key}' is not in the lock",
                    "run `fleetctl lock` and commit fleet.lock",
                    "FL202",
                )
            )
        elif entry.digest != resolved.digest:
            line, col = smap.locate(("pins", key))
            out.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    f"pins.{key}",
                    f"content of '{key}' changed since it was locked ({entry.digest[:19]}… → {resolved.digest[:19]}…)",
                    "versions are immutable: publish the change as a new version and bump the pin",
                    "FL203",
                )
            )
    return out


def check(
    source: Source,
    *,
    agent_files: list[str] | None = None,
    fleet_file: str = "fleet.yaml",
    lock: bool = True,
    today: dt.date | None = None,
) -> Report:
    """Full validation: load, rules, pin resolution and (optionally) the lockfile."""
    report = validate(source, agent_files=agent_files, fleet_file=fleet_file, today=today)
    if report.fleet is None:
        return report
    res = resolve_all(report.fleet)
    diags = report.diagnostics + res.diagnostics
    if lock and not res.diagnostics:
        diags += check_lock(source, res)
    return Report(report.fleet, sort_diagnostics(diags), res)


RESOLVE_RULES = [
    (
        "FL201",
        "unresolved-ref",
        Severity.ERROR,
        "A pinned skill or prompt names no existing version.",
    ),
    (
        "FL202",
        "lock-missing",
        Severity.ERROR,
        "fleet.lock is missing, or lacks an entry for a pin.",
    ),
    (
        "FL203",
        "lock-mismatch",
        Severity.ERROR,
        "A pinned version's content differs from its digest in fleet.lock.",
    ),
]
