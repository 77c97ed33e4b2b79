"""``fleetctl eval PATH LOOP``: replay a loop's recorded cases against its candidate or current pins.

The work is in :mod:`fleetctl.evals`; this module parses options, prints the
table (or the JSON report) and writes the files asked for. Exit codes: 0 no
regression (with no baseline: every case passed), 1 a regression (or, with no
baseline, a case that did not pass), 2 a usage error, a bad case file or an
internal error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, EXIT_OK, EXIT_USAGE


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def eval_cmd(
    path: Path = typer.Argument(..., help="The fleet directory."),
    loop: str = typer.Argument(
        ..., help="The loop whose cases (evals/LOOP/*.yaml) run; its staging twin's name works too."
    ),
    pins: str = typer.Option(
        "candidate",
        "--pins",
        help="candidate (the staging twin's pins, against LOOP's as the baseline) or current "
        "(LOOP's own).",
    ),
    provider: str | None = typer.Option(
        None,
        "--provider",
        help="replay (each case's recorded transcripts; the default), replay:FILE, replay:DIR "
        "(DIR/<case>.replay.yaml) or fleet (the fleet's providers, keys from the environment).",
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", help="Cases run at once (default: two per CPU, at most 8)."
    ),
    case: list[str] = typer.Option([], "--case", help="Run only this case (repeatable)."),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Compare with this saved report instead of running LOOP's pins."
    ),
    save_baseline: Path | None = typer.Option(
        None, "--save-baseline", help="Write the report here, for a later --baseline."
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        help="Write each case's model replies to DIR/<case>.replay.yaml (with --provider fleet: "
        "a recording to replay with --provider replay:DIR, or to move beside the case).",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the JSON report here."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    output: str = typer.Option("text", "--output", "-o", help="text (the table) or json."),
) -> None:
    """Run every recorded case of LOOP through the real harness and gateway and judge it.

    A regression is a case that passes on the baseline (LOOP's current pins, computed in the
    same run unless --baseline is given) and fails or errors with the evaluated pins.
    """
    from fleetctl.output import fail

    if output not in ("text", "json"):
        fail(f"--output {output!r}: expected text or json")
    if pins not in ("candidate", "current"):
        fail(f"--pins {pins!r}: expected candidate or current")
    if jobs is not None and jobs < 1:
        fail(f"--jobs {jobs}: expected 1 or more")
    from fleet.evals.report import junit_xml, table
    from fleetctl.evals.runner import CaseError, EvalRequest, evaluate
    from fleetctl.local.errors import LocalError, TranscriptError
    from fleetctl.local.home import InvalidFleet

    req = EvalRequest(
        path,
        loop,
        "candidate" if pins == "candidate" else "current",
        provider,
        jobs,
        baseline,
        list(case) or None,
        record=record,
    )
    try:
        report = evaluate(req)
    except (InvalidFleet, CaseError, TranscriptError) as exc:
        for d in exc.diagnostics:
            typer.echo(d.format(), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except LocalError as exc:
        fail(exc.message, exc.hint)
    except KeyboardInterrupt:
        fail("interrupted: no report was written", "run the eval again")
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    for target in (json_out, save_baseline):
        if target is not None:
            _write(target, text)
    if junit is not None:
        _write(junit, junit_xml(report))
    if output == "json":
        typer.echo(text, nl=False)
    else:
        typer.echo(table(report), nl=False)
    raise typer.Exit(EXIT_OK if report["passed"] else EXIT_INVALID)
