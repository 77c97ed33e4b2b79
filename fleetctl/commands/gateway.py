"""``fleetctl gateway``: render a local gateway config from a fleet, and serve the gateway."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, Output, fail, fleet_source, print_diagnostics

app = typer.Typer(help="Run the fleet gateway locally.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gateway")


@app.command("config")
def config(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    out: Path = typer.Option(
        Path("gateway.json"), "--out", "-o", help="Where to write the gateway config."
    ),
    tokens_out: Path = typer.Option(
        Path("gateway-tokens.json"),
        "--tokens-out",
        help="Where to write the minted tokens (keep it private).",
    ),
    approver: list[str] = typer.Option(
        [], "--approver", help="Approver identities to mint tokens for."
    ),
) -> None:
    """Compile the fleet and write a gateway config with freshly minted tokens (for local runs).

    In a cluster the operator mints tokens into Secrets and writes the config into a ConfigMap.
    """
    from fleet.compile import compile_loaded
    from fleet.gwrender import gateway_config, identities, token_sha256
    from fleet.resolve import check

    source, _, _ = fleet_source([path])
    report = check(source, lock=False)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    compiled = compile_loaded(report.fleet, report.resolution)
    existing: dict[str, str] = json.loads(tokens_out.read_text()) if tokens_out.exists() else {}
    tokens = {
        key: existing.get(key) or f"fgw_{secrets.token_urlsafe(32)}"
        for key in identities(compiled.loops)
    }
    approver_tokens = {
        f"approver:{name}": existing.get(f"approver:{name}") or f"fga_{secrets.token_urlsafe(32)}"
        for name in approver
    }
    cfg = gateway_config(
        compiled.policy,
        compiled.loops,
        {k: [token_sha256(v)] for k, v in tokens.items()},
        {k.removeprefix("approver:"): [token_sha256(v)] for k, v in approver_tokens.items()},
    )
    out.write_text(cfg.model_dump_json(indent=2) + "\n")
    tokens_out.write_text(
        json.dumps({**tokens, **approver_tokens}, indent=2, sort_keys=True) + "\n"
    )
    tokens_out.chmod(0o600)
    typer.echo(
        f"wrote {out} ({len(cfg.loops)} loops) and {tokens_out} ({len(tokens) + len(approver_tokens)} tokens)"
    )


@app.command("serve")
def serve(
    config: Path = typer.Option(
        ..., "--config", "-c", help="Gateway config (JSON), hot-reloaded on change."
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port", "-p"),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3",
        "--store",
        help="sqlite:PATH[?synchronous=full] or redis://HOST:PORT/DB.",
    ),
    log_level: str = typer.Option("warning", "--log-level"),
    otlp_endpoint: str | None = typer.Option(
        None,
        "--otlp-endpoint",
        help="Export traces as OTLP/HTTP JSON to this collector (default: $OTEL_EXPORTER_OTLP_ENDPOINT).",
    ),
) -> None:
    """Serve the gateway (uvloop + httptools)."""
    if not config.exists():
        fail(f"no such config: {config}", "write one with `fleetctl gateway config FLEET`")
    from gateway.server import serve as run

    try:
        run(
            config,
            host=host,
            port=port,
            store=store,
            log_level=log_level,
            otlp_endpoint=otlp_endpoint,
        )
    except ValueError as exc:
        fail(str(exc), "fix the config file")
