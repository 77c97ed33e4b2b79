"""Entry point of ``fleetctl``: registers the command modules, each in ``fleetctl/commands``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="fleetctl",
    help="GitOps for fleets of unattended AI agent loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()
