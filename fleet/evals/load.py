"""Reading a loop's cases, ``evals/<loop>/*.yaml``, from a fleet :class:`~fleet.source.Source`.

Every file is read through the source, so nothing outside the fleet root is
read (a link out of it is a located error, like any other), and every
mistake of every case is collected before anything runs: one bad case file
stops the eval with all its diagnostics, rather than counting as a failure.
"""

from __future__ import annotations

from fleet.errors import Diagnostic, ReadError, did_you_mean
from fleet.evals.case import EVALS_DIR, Case, CaseFile, case_name, check_case
from fleet.load import parse_model
from fleet.source import Source

CASE_SUFFIXES = (".yaml", ".yml")
TRANSCRIPT_MARK = ".replay."  # transcripts beside the cases are not cases


def _display(source: Source, rel: str) -> str:
    return f"{source.label}/{rel}" if source.label else rel


def case_files(source: Source, loop: str) -> list[str]:
    """The case files of ``loop``, relative to the fleet root, sorted."""
    base = f"{EVALS_DIR}/{loop}"
    return [
        f"{base}/{name}"
        for name in source.listdir(base)
        if name.endswith(CASE_SUFFIXES) and TRANSCRIPT_MARK not in name and not name.startswith(".")
    ]


def load_cases(
    source: Source, loop: str, *, only: list[str] | None = None
) -> tuple[list[Case], list[Diagnostic]]:
    """Every case of ``loop`` (or the ``only`` ones), and every diagnostic about them."""
    diags: list[Diagnostic] = []
    cases: list[Case] = []
    files = case_files(source, loop)
    if not files:
        diags.append(
            Diagnostic(
                _display(source, f"{EVALS_DIR}/{loop}"),
                0,
                0,
                "",
                f"loop {loop} has no eval cases",
                f"add {EVALS_DIR}/{loop}/<case>.yaml (docs/evals.md)",
            )
        )
        return [], diags
    names = {case_name(f): f for f in files}
    if only:
        missing = [n for n in only if n not in names]
        for n in missing:
            diags.append(
                Diagnostic(
                    _display(source, f"{EVALS_DIR}/{loop}"),
                    0,
                    0,
                    "",
                    f"no case '{n}' for loop {loop}",
                    did_you_mean(n, names),
                )
            )
        files = [names[n] for n in only if n in names]
    for rel in files:
        shown = _display(source, rel)
        try:
            text = source.read(rel)
        except ReadError as exc:
            diags.append(Diagnostic(shown, 0, 0, "", exc.message, exc.hint))
            continue
        if text is None:
            continue
        spec, smap, _raw, found = parse_model(text, shown, CaseFile)
        diags += found
        if spec is None:
            continue
        problems = check_case(spec, smap)
        diags += problems
        if not problems:
            cases.append(Case(name=case_name(rel), loop=loop, file=shown, spec=spec, smap=smap))
    return cases, diags


def read_transcript(source: Source, case: Case, rel: str) -> tuple[str, bytes | None, str]:
    """The transcript ``rel`` of ``case`` (beside its file): its fleet path, bytes, and a
    problem (empty when read)."""
    directory = f"{EVALS_DIR}/{case.loop}"
    path = f"{directory}/{rel}"
    try:
        data = source.read(path)
    except ReadError as exc:
        return path, None, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "")
    if data is None:
        return path, None, f"transcript {_display(source, path)} does not exist"
    return path, data, ""
