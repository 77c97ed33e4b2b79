"""``fleetctl eval``: every case of a loop, run with a set of pins, judged, compared with a baseline.

Which pins: ``candidate`` runs the loop's staging twin (the loop whose
``promotes_to:`` names it) on the loop's cases; ``current`` runs the loop
itself. The baseline is the loop's current pins on the same cases, computed
in the same run (the default with ``candidate``) or read from a report saved
earlier (``--baseline FILE``).

Everything the user wrote is checked before anything starts: the fleet, the
loop, every case file and every transcript; their mistakes are located
diagnostics, raised together as :class:`CaseError` (exit 2). A case that runs
and goes wrong (an unrecorded tool call, no transcript for the pins) is that
case's ``error``, never the whole eval's.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import orjson

from fleet.errors import Diagnostic, did_you_mean
from fleet.evals.case import Case
from fleet.evals.check import CaseResult, Observation, judge_case
from fleet.evals.load import load_cases, read_transcript
from fleet.evals.report import baseline_from_report, build_report, pin_set
from fleet.source import DirSource
from fleet.yamlsrc import format_path, parse
from fleetctl.evals.worker import Worker
from fleetctl.evals.zygote import Forker
from fleetctl.local.errors import LocalError, TranscriptError
from fleetctl.local.home import Fleet, load_fleet
from fleetctl.local.replay import Replay

Pins = Literal["candidate", "current"]
PROMOTES_LABEL = "/promotes-to"
SAME_RUN = "same run"


class CaseError(LocalError):
    """Case files or transcripts with located mistakes; carries all of them."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics))
        first = self.diagnostics[0].format() if self.diagnostics else "invalid eval cases"
        super().__init__(first)

    def lines(self) -> list[str]:
        return [d.format() for d in self.diagnostics]


@dataclass
class EvalRequest:
    fleet_root: Path
    loop: str
    pins: Pins = "candidate"
    provider: str | None = None  # None: the cases' transcripts; replay:FILE|DIR; fleet
    jobs: int | None = None
    baseline_file: Path | None = None
    cases: list[str] | None = None
    record: Path | None = None  # write each case's model replies here as <case>.replay.yaml
    fork: bool = True  # fork runs from one warm harness parent (False: exec fleet-harness each)
    on_result: Callable[[str, CaseResult], None] | None = field(default=None, repr=False)


def default_jobs() -> int:
    # A case waits on loopback and on its harness process for part of its wall time, so two
    # per CPU keep both busy: 50 cases on 2 CPUs took 14.1 s with 2 at once, 9.0 s with 4.
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def _promotes_to(loop: dict[str, Any]) -> str | None:
    for key, value in (loop["metadata"].get("labels") or {}).items():
        if key.endswith(PROMOTES_LABEL):
            return str(value)
    return None


def pair(fleet: Fleet, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(production loop, its staging twin or None) for a loop named by either."""
    loop = fleet.loop(name)
    target = _promotes_to(loop)
    if target is not None:
        return fleet.loop(target), loop
    twins = [lp for lp in fleet.loops if _promotes_to(lp) == name]
    return loop, (twins[0] if twins else None)


def pins_of(loop: dict[str, Any]) -> dict[str, Any]:
    spec = loop["spec"]
    return {
        "instructions": spec["instructions"]["ref"],
        "skills": [s["ref"] for s in spec.get("skills", [])],
        "model": spec.get("model"),
    }


def _transcript_from_bytes(data: bytes, shown: str) -> Replay:
    from fleetctl.local.transcript import _build  # the loader behind Replay.from_file, on bytes

    doc, smap, diags = parse(data, shown)
    if diags or doc is None:
        raise TranscriptError(diags)
    return _build(doc, smap)


def _retrack(replay: Replay, recorded_as: str, runs_as: str) -> Replay:
    """The transcript's tracks, recorded under the production loop's identities, renamed to the
    identities of the loop that runs (its staging twin runs under its own)."""
    if recorded_as == runs_as:
        return replay
    tracks = {}
    for name, replies in replay.tracks.items():
        head, sep, tail = name.partition("/")
        tracks[(runs_as if head == recorded_as else head) + sep + tail] = replies
    return replace(replay, tracks=tracks, positions={})


class _Provider:
    """Where each case's model replies come from: its own transcripts, ``replay:FILE|DIR``, or the
    fleet's providers (``fleet``)."""

    def __init__(self, spec: str | None):
        self.spec = spec
        self.kind = "cases"
        self.path: Path | None = None
        if spec in (None, "", "replay"):
            return
        assert spec is not None
        if spec == "fleet":
            self.kind = "fleet"
            return
        kind, sep, rest = spec.partition(":")
        if kind != "replay" or not sep or not rest:
            raise LocalError(
                f"--provider {spec!r}: expected replay, replay:FILE, replay:DIR or fleet",
                "replay (the default) plays each case's own transcripts",
            )
        self.path = Path(rest)
        if not self.path.exists():
            raise LocalError(
                f"--provider {spec!r}: {rest} does not exist",
                "give a transcript file or a directory of <case>.replay.yaml",
            )
        self.kind = "dir" if self.path.is_dir() else "file"

    def describe(self) -> str | None:
        if self.kind == "fleet":
            return None
        where = {
            "cases": "each case's recorded transcript for the pins",
            "file": f"the transcript {self.path}",
            "dir": f"the transcripts in {self.path}",
        }[self.kind]
        return f"model replies from {where}, tool results from the case's recording; no model is called"


def _load_replays(
    req: EvalRequest,
    source: DirSource,
    cases: list[Case],
    runs: list[tuple[str, dict[str, Any]]],
    provider: _Provider,
    production: str,
) -> tuple[dict[tuple[str, str], Replay | str | None], list[Diagnostic]]:
    """(case, pin label) → the transcript, or the reason there is none (a string)."""
    out: dict[tuple[str, str], Replay | str | None] = {}
    diags: list[Diagnostic] = []
    cache: dict[str, Replay] = {}

    def get(key: str, loader: Callable[[], Replay]) -> Replay | None:
        if key not in cache:
            try:
                cache[key] = loader()
            except TranscriptError as exc:
                diags.extend(exc.diagnostics)
                return None
        return cache[key]

    for case in cases:
        for label, loop in runs:
            name = loop["metadata"]["name"]
            if provider.kind == "fleet":
                out[(case.name, label)] = None
                continue
            if provider.kind in ("file", "dir"):
                assert provider.path is not None
                path = (
                    provider.path / f"{case.name}.replay.yaml"
                    if provider.kind == "dir"
                    else provider.path
                )
                if not path.is_file():
                    out[(case.name, label)] = f"no transcript {path} for the case"
                    continue
                rp = get(str(path), lambda p=path: Replay.from_file(p))  # type: ignore[misc]
            else:
                pins = pins_of(loop)
                ref = pins["instructions"]
                key = case.transcript_key([ref, *pins["skills"]])
                rel = None if key is None else case.spec.model[key]
                if key is None or rel is None:
                    known = ", ".join(sorted(case.spec.model)) or "none"
                    out[(case.name, label)] = (
                        f"no recorded model transcript for {ref} (model: has {known}); "
                        "record one, or add it under model:"
                    )
                    continue
                fleet_path, data, problem = read_transcript(source, case, rel)
                if problem or data is None:
                    line, col = case.smap.locate(("model", key))
                    diags.append(
                        Diagnostic(
                            case.file,
                            line,
                            col,
                            format_path(("model", key)),
                            problem,
                            "give a transcript file beside the case",
                        )
                    )
                    continue
                shown = f"{source.label}/{fleet_path}" if source.label else fleet_path
                rp = get(shown, lambda d=data, s=shown: _transcript_from_bytes(d, s))  # type: ignore[misc]
            if rp is not None:
                out[(case.name, label)] = _retrack(rp, production, name)
    return out, diags


def _listed(replay: Replay | str | None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    if isinstance(replay, Replay):
        for replies in replay.tracks.values():
            for r in replies:
                for c in r.tool_calls:
                    server, sep, tool = c.name.partition("__")
                    if sep:
                        out.setdefault(server, set()).add(tool)
    return out


def _check_judges(fleet: Fleet, cases: list[Case]) -> list[Diagnostic]:
    models = fleet.policy["spec"].get("models", {})
    out = []
    for case in cases:
        rubric = case.spec.expect.rubric
        if rubric is not None and rubric.judge not in models:
            line, col = case.smap.locate(("expect", "rubric", "judge"))
            out.append(
                Diagnostic(
                    case.file,
                    line,
                    col,
                    "expect.rubric.judge",
                    f"no model '{rubric.judge}' in the fleet",
                    did_you_mean(rubric.judge, models),
                )
            )
    return out


def evaluate(req: EvalRequest, *, fleet: Fleet | None = None) -> dict[str, Any]:
    """Run the eval and return its report (:func:`fleet.evals.report.build_report`); ``fleet``
    is the fleet at ``req.fleet_root`` when the caller has loaded it already."""
    provider = _Provider(req.provider)
    jobs = req.jobs if req.jobs is not None else default_jobs()
    if jobs < 1:
        raise LocalError(f"--jobs {jobs}: expected 1 or more")
    # The harness parent warms up (imports its clients) while the fleet and cases load.
    forker = Forker().start() if req.fork else None
    try:
        return _evaluate(req, provider, jobs, forker, fleet)
    finally:
        if forker is not None:
            forker.stop()


def _evaluate(
    req: EvalRequest,
    provider: _Provider,
    jobs: int,
    forker: Forker | None,
    fleet: Fleet | None,
) -> dict[str, Any]:
    if fleet is None:
        fleet = load_fleet(req.fleet_root)
    production, twin = pair(fleet, req.loop)
    prod_name = production["metadata"]["name"]
    if req.pins == "candidate" and twin is None:
        raise LocalError(
            f"loop {prod_name} has no staging twin (no loop has promotes_to: {prod_name})",
            "add one, or evaluate the loop's own pins with --pins current",
        )
    label = str(req.fleet_root) if str(req.fleet_root) != "." else ""
    source = DirSource(req.fleet_root, label)
    cases, diags = load_cases(source, prod_name, only=req.cases)
    diags += _check_judges(fleet, cases)
    baseline: dict[str, Any] | None = None
    baseline_source: str | None = None
    if req.baseline_file is not None:
        baseline = _read_baseline(req.baseline_file, prod_name)
        baseline_source = str(req.baseline_file)
    evaluated_loop = twin if req.pins == "candidate" and twin is not None else production
    runs: list[tuple[str, dict[str, Any]]] = [(req.pins, evaluated_loop)]
    if baseline is None and req.pins == "candidate":
        runs.append(("current", production))
        baseline_source = SAME_RUN
    replays, tdiags = _load_replays(req, source, cases, runs, provider, prod_name)
    diags += tdiags
    if any(d.severity == "error" for d in diags):
        raise CaseError(diags)
    tasks = [(lbl, loop, case) for lbl, loop in runs for case in cases]
    results = _run_all(fleet, tasks, replays, jobs, provider, forker, req.on_result)
    sets = {
        lbl: pin_set(
            lbl, loop["metadata"]["name"], pins_of(loop), [results[(lbl, c.name)] for c in cases]
        )
        for lbl, loop in runs
    }
    notes = []
    if provider.kind == "fleet":
        notes.append(
            "model replies came live from the fleet's providers; tool results were replayed "
            "from each case's recording"
        )
    if req.record is not None:
        written = record_transcripts(
            req.record, prod_name, evaluated_loop, [results[(req.pins, c.name)] for c in cases]
        )
        notes.append(
            f"recorded {written} transcript(s) in {req.record} (replay them: --provider replay:{req.record})"
        )
    if (
        baseline is not None
        and baseline_source != SAME_RUN
        and baseline.get("pins") != pins_of(production)
    ):
        notes.append(
            f"the baseline was saved with other pins ({baseline.get('pins')}) than {prod_name} has now"
        )
    return build_report(
        loop=prod_name,
        evaluated=sets[req.pins],
        baseline=sets.get("current") if baseline_source == SAME_RUN else baseline,
        baseline_source=baseline_source,
        replay=provider.describe(),
        notes=notes,
    )


def record_transcripts(
    directory: Path, production: str, loop: dict[str, Any], results: list[CaseResult]
) -> int:
    """Write each result's model replies as ``DIR/<case>.replay.yaml``, its tracks under the
    production loop's identities (as cases name them); returns how many were written."""
    from fleet.yamlout import dump

    name = loop["metadata"]["name"]
    ref = pins_of(loop)["instructions"]
    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    for res in results:
        replies = res.observation.replies
        if not replies:
            continue
        tracks = {}
        for member, items in sorted(replies.items()):
            head, sep, tail = member.partition("/")
            tracks[(production if head == name else head) + sep + tail] = items
        doc = {
            "replay": f"{production} eval case {res.case} (recorded with {ref})",
            "tracks": tracks,
        }
        text = (
            f"# the model replies of eval case {res.case}, recorded by fleetctl eval --record "
            f"with {name}'s pins ({ref})\n" + dump(doc)
        )
        target = directory / f"{res.case}.replay.yaml"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        n += 1
    return n


def _read_baseline(path: Path, loop: str) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise LocalError(
            f"--baseline {path}: cannot read it ({exc.strerror or exc})",
            "save one with --save-baseline FILE",
        ) from None
    except orjson.JSONDecodeError as exc:
        raise LocalError(
            f"--baseline {path}: not JSON ({exc})", "give a file --save-baseline wrote"
        ) from None
    ev = baseline_from_report(data)
    if ev is None:
        raise LocalError(
            f"--baseline {path}: not an eval report",
            "give a file --save-baseline (or -o json) wrote",
        )
    if data.get("loop") != loop:
        raise LocalError(
            f"--baseline {path}: it is a baseline of loop {data.get('loop')}, not {loop}"
        )
    return ev


def _run_all(
    fleet: Fleet,
    tasks: list[tuple[str, dict[str, Any], Case]],
    replays: dict[tuple[str, str], Replay | str | None],
    jobs: int,
    provider: _Provider,
    forker: Forker | None,
    on_result: Callable[[str, CaseResult], None] | None,
) -> dict[tuple[str, str], CaseResult]:
    """Run every task on at most ``jobs`` workers; each worker runs one case at a time."""
    results: dict[tuple[str, str], CaseResult] = {}
    todo: queue.Queue[tuple[str, dict[str, Any], Case]] = queue.Queue()
    for task in tasks:
        todo.put(task)
    loops = list({t[1]["metadata"]["name"]: t[1] for t in tasks}.values())
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int, scratch: Path) -> None:
        try:
            replay = provider.kind != "fleet"
            with Worker(fleet, scratch, index, loops, replay=replay, forker=forker) as w:
                while True:
                    try:
                        lbl, loop, case = todo.get_nowait()
                    except queue.Empty:
                        return
                    rp = replays.get((case.name, lbl))
                    if isinstance(rp, str):
                        obs = Observation(errors=[rp])
                    else:
                        obs = w.run_case(case, loop, rp, listed=_listed(rp))
                    res = judge_case(case, obs)
                    with lock:
                        results[(lbl, case.name)] = res
                    if on_result is not None:
                        on_result(lbl, res)
        except BaseException as exc:  # reported after the others stop
            with lock:
                failures.append(exc)

    n = max(1, min(jobs, len(tasks)))
    with tempfile.TemporaryDirectory(prefix="fleetctl-eval-") as tmp:
        threads = [
            threading.Thread(target=work, args=(i, Path(tmp)), daemon=True) for i in range(n)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if failures:
        exc = failures[0]
        if isinstance(exc, LocalError):
            raise exc
        raise LocalError(f"an eval worker failed: {type(exc).__name__}: {exc}") from exc
    return results
