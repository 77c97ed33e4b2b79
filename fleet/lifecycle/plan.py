"""Plan a pin change of a production loop: the new file contents, the new lock and the diff.

Promotion and rollback are the same change seen from two sides: a wanted set of pins
(the candidate's, or an earlier revision's) becomes the production loop's. The plan
is computed over the files as they would be (an overlay on the fleet's source), so the
new fleet is validated, locked and compiled exactly as ``fleetctl validate``, ``lock``
and ``diff`` would treat it, and nothing is written until the caller decides to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.compile import compile_loaded
from fleet.diff import FleetDiff, diff_fleets
from fleet.errors import Diagnostic, SpecError, did_you_mean
from fleet.lifecycle import LifecycleError
from fleet.lifecycle.edit import rewrite
from fleet.lifecycle.pins import PinChange, Pins, apply, changes, member_names, pins_of
from fleet.load import AGENTS_DIR, LoadedAgent
from fleet.lockfile import LOCK_FILE, dump, relock
from fleet.resolve import check, lock_entries, resolve_all
from fleet.source import Source
from fleet.validate import Report


class Overlay:
    """A fleet source with some files replaced: the fleet as a plan would leave it."""

    def __init__(self, base: Source, files: dict[str, bytes]):
        self.base = base
        self.files = files
        self.label = base.label
        self.root = getattr(base, "root", None)  # registries with relative paths resolve from here

    def read(self, path: str) -> bytes | None:
        return self.files[path] if path in self.files else self.base.read(path)

    def listdir(self, path: str) -> list[str]:
        return self.base.listdir(path)

    def isdir(self, path: str) -> bool:
        return self.base.isdir(path)

    def real(self, path: str) -> str:
        return self.base.real(path)


@dataclass
class Planned:
    """What a promotion or rollback would do; ``writes`` holds only files whose bytes change."""

    loop: str
    file: str
    """The production loop's file, relative to the fleet root."""
    changes: list[PinChange]
    before: Pins
    after: Pins
    writes: dict[str, bytes] = field(default_factory=dict)
    diff: FleetDiff = field(default_factory=FleetDiff)
    warnings: list[Diagnostic] = field(default_factory=list)


def relative(source: Source, shown: str) -> str:
    """A loaded file's fleet-relative path (loaded files are named as users see them)."""
    label = source.label.rstrip("/")
    if label and label != "." and shown.startswith(label + "/"):
        return shown[len(label) + 1 :]
    return shown


def current(source: Source) -> Report:
    """The fleet as it is, validated with its lock: a plan starts only from a valid fleet."""
    report = check(source, lock=True)
    if report.fleet is None or report.errors:
        raise SpecError(report.errors or report.diagnostics)
    return report


def find_loop(report: Report, name: str) -> LoadedAgent:
    assert report.fleet is not None
    la = report.fleet.agent(name)
    if la is None:
        names = [a.agent.name for a in report.fleet.agents]
        where = relative(report.fleet.source, report.fleet.fleet_file)
        shown = report.fleet.fleet_file[: -len(where)] + AGENTS_DIR + "/"
        raise LifecycleError(
            Diagnostic(
                shown,
                0,
                0,
                "",
                f"no loop named '{name}' in the fleet",
                did_you_mean(name, names) or "the fleet has no loops",
            )
        )
    return la


def candidate_pair(report: Report, name: str) -> tuple[LoadedAgent, LoadedAgent]:
    """(candidate, production) for the staging loop ``name``; located errors otherwise."""
    assert report.fleet is not None
    cand = find_loop(report, name)
    target = cand.agent.promotes_to
    if target is None:
        twins = [a.agent.name for a in report.fleet.agents if a.agent.promotes_to == name]
        line, col = cand.smap.locate(("agent", "name"))
        hint = (
            f"'{name}' is the production loop: promote its candidate, `fleetctl promote {twins[0]}`"
            if twins
            else f"a candidate is a staging loop with promotes_to: {name} and newer pins"
        )
        raise LifecycleError(
            Diagnostic(
                cand.file,
                line,
                col,
                "agent.promotes_to",
                f"loop '{name}' has no promotes_to: it is not a candidate for a production loop",
                hint,
            )
        )
    # validate has run FL211 (the target exists), so this lookup cannot miss.
    return cand, find_loop(report, target)


def plan(
    source: Source, report: Report, prod: LoadedAgent, target: Pins, *, remove: bool
) -> Planned:
    """Give ``prod`` the pins ``target``: rewrite its file, relock, validate and diff.

    Raises :class:`SpecError` when the fleet so changed would not validate, or its lock
    would have to re-digest a version (the findings of ``fleetctl validate`` and ``lock``).
    """
    read_as = relative(source, prod.file)
    # A loop file may be a link inside the fleet: the file written is the one it points at.
    file = source.real(read_as)
    before = pins_of(prod.raw)
    todo = changes(before, target, member_names(prod.raw), remove=remove)
    out = Planned(prod.agent.name, file, todo, before, apply(before, todo))
    if not todo:
        return out
    old_text = source.read(read_as)
    assert old_text is not None  # it was loaded a moment ago
    new_text = rewrite(old_text.decode("utf-8"), prod.raw, todo, prod.file).encode("utf-8")
    files = {file: new_text}
    overlay = Overlay(source, {read_as: new_text})
    after = check(overlay, lock=False)
    if after.fleet is None or after.errors:
        raise SpecError(after.errors or after.diagnostics)
    res = after.resolution or resolve_all(after.fleet)
    shown = f"{source.label.rstrip('/')}/{LOCK_FILE}" if source.label else LOCK_FILE
    old_lock = source.read(LOCK_FILE)
    lock = relock(lock_entries(res), old_lock, shown)
    if lock.diagnostics:
        raise SpecError(lock.diagnostics)
    lock_text = dump(lock.entries).encode("utf-8")
    if lock_text != old_lock:
        files[LOCK_FILE] = lock_text
    old_docs = compile_loaded(report.fleet, report.resolution).documents()  # type: ignore[arg-type]
    new_docs = compile_loaded(after.fleet, res).documents()
    out.writes = files
    out.diff = diff_fleets(old_docs, new_docs)
    out.warnings = after.warnings
    return out
