"""How promote and rollback end: every refusal as located lines and a fixed exit code.

A fleet that would not validate prints its findings like ``fleetctl validate`` (exit 1);
a refusal (unknown loop, dirty files, no git history) is one red line naming the file
(exit 2); nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer

from fleetctl.output import EXIT_INVALID, EXIT_USAGE, Output, error_line, print_diagnostics


def echo_json(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, default=str))


def guarded(req: Any, work: Callable[[], int]) -> int:
    """Run ``work``; turn the errors it may raise on purpose into output and an exit code."""
    from fleet.errors import FleetError, SpecError
    from fleet.lifecycle import LifecycleError
    from fleetctl.local.errors import LocalError

    try:
        return work()
    except SpecError as exc:
        if req.output == "json":
            echo_json({"error": "invalid", "diagnostics": [d.to_json() for d in exc.diagnostics]})
        else:
            print_diagnostics(exc.diagnostics, Output.text)
            typer.echo("nothing changed: the fleet must validate before and after", err=True)
        return EXIT_INVALID
    except LifecycleError as exc:
        error_line(exc.diagnostic.format())
        return EXIT_USAGE
    except FleetError as exc:
        error_line(str(exc))
        return EXIT_USAGE
    except LocalError as exc:
        # The eval gate's own errors (a case file, a transcript): each located line, exit 2.
        found = getattr(exc, "diagnostics", None)
        lines = [d.format() for d in found] if found else [str(exc)]
        for line in lines:
            error_line(line)
        return EXIT_USAGE
