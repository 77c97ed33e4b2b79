"""``fleetctl run PATH LOOP``: run one loop on this machine, with no cluster.

The real gateway is served in-process over ``PATH/.fleet`` (tokens, config,
store), the harness runs as a subprocess with the pod's layout, and
``--provider replay:FILE`` plays a recorded transcript instead of calling a
model. The work is in ``fleetctl.local``; this module only parses options.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, EXIT_OK, EXIT_USAGE


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    path: Path = typer.Argument(..., help="The fleet directory."),
    loop: str = typer.Argument(..., help="The loop to run."),
    provider: str | None = typer.Option(
        None,
        "--provider",
        help="fleet (the fleet's providers; keys from the environment; the default) or "
        "replay:FILE (a recorded transcript, no model called). --resume keeps the run's.",
    ),
    mcp: list[str] = typer.Option(
        [],
        "--mcp",
        help="NAME=URL: reach this MCP server of the catalog at URL (repeatable). "
        "--resume keeps the run's.",
    ),
    home: Path | None = typer.Option(
        None, "--home", help="The local home (tokens, gateway config, store); default PATH/.fleet."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Continue this run (paused for an approval, or stopped)."
    ),
    input_: str | None = typer.Option(None, "--input", help="The run's input, JSON."),
    harness: str | None = typer.Option(
        None, "--harness", help="The harness command (default: fleet-harness beside this Python)."
    ),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Run LOOP of the fleet at PATH locally, through the real gateway, and print its outcome.

    Exit code 0 when the run is done, 1 for any other outcome (awaiting_approval too), 2 for
    usage errors.
    """
    if output not in ("text", "json"):
        from fleetctl.output import fail

        fail(f"--output {output!r}: expected text or json")
    from fleetctl.local.errors import LocalError, TranscriptError
    from fleetctl.local.home import InvalidFleet
    from fleetctl.local.session import Options
    from fleetctl.local.session import run as run_local

    opts = Options(
        fleet=path,
        loop=loop,
        provider=provider,
        mcp=list(mcp),
        home=home,
        resume=resume,
        input=input_,
        harness=harness,
        json=output == "json",
    )
    try:
        res = run_local(opts)
    except InvalidFleet as exc:
        for d in exc.diagnostics:
            typer.echo(d.format(), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except TranscriptError as exc:
        for line in exc.lines():
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except LocalError as exc:
        from fleetctl.output import fail

        fail(exc.message, exc.hint)
    if opts.json:
        typer.echo(json.dumps(res.to_json(), sort_keys=True))
    raise typer.Exit(EXIT_OK if res.outcome == "done" else EXIT_INVALID)
