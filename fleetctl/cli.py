"""Entry point of ``fleetctl``: registers the command modules, each in ``fleetctl/commands``.

Command modules import only typer at the top; heavy work (pydantic models,
git, Kubernetes, the gateway) is imported inside each command so ``--help``
stays fast.
"""

from __future__ import annotations

import typer

from fleetctl.commands import (
    approvals,
    approvers,
    cost,
    dashboard,
    diff,
    doctor,
    gateway,
    inventory,
    lock,
    promote,
    rollback,
    rules,
    run,
    runs,
    schema,
    trigger,
    validate,
)
from fleetctl.commands import compile as compile_cmd
from fleetctl.commands import eval as eval_cmd

app = typer.Typer(
    name="fleetctl",
    help="GitOps for fleets of unattended AI agent loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

for module in (
    validate,
    rules,
    schema,
    lock,
    compile_cmd,
    diff,
    inventory,
    gateway,
    cost,
    doctor,
    dashboard,
    approvals,
    approvers,
    run,
    runs,
    trigger,
    eval_cmd,
    promote,
    rollback,
):
    module.register(app)


def main() -> None:
    """Run the CLI; what escapes a command is printed as one red line with exit 2."""
    from fleet.errors import FleetError
    from fleetctl.output import EXIT_USAGE, error_line, store_failure

    try:
        app()
    except FleetError as exc:
        error_line(str(exc))
        raise SystemExit(EXIT_USAGE) from None
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        error_line(f"{exc.strerror or exc}{where}", "check the path and its permissions")
        raise SystemExit(EXIT_USAGE) from None
    except Exception as exc:
        reason = store_failure(exc)
        if reason is None:
            raise
        error_line(f"the gateway's store failed: {reason}", "check --store and that it is running")
        raise SystemExit(EXIT_USAGE) from None
