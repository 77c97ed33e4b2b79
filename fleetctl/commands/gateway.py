"""``fleetctl gateway``: render a local gateway config from a fleet, and serve the gateway."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, Output, fail, fleet_source, print_diagnostics

app = typer.Typer(help="Run the fleet gateway locally.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gateway")


def read_tokens(path: Path) -> dict[str, str]:
    """The tokens minted before at ``path`` (kept, so a re-run does not rotate them)."""
    if path.is_symlink():
        fail(
            f"{path} is a symbolic link: the tokens file is never written through one",
            "remove the link, or pass the real path with --tokens-out",
        )
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", "delete it to mint new tokens")
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        fail(
            f"{path}: not a tokens file (a JSON object of names to tokens)",
            "delete it to mint new tokens",
        )
    return data


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from its first byte.

    The file is created 0600 under a fresh name in the same directory and renamed over
    ``path``: a reader never sees it half-written or with wider permissions, and a symlink
    at ``path`` is replaced, not followed.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
            data = memoryview(text.encode())
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    from fleet.gwconfig import dump_json
    from fleet.gwrender import gateway_config, identities, token_sha256
    from fleet.resolve import check

    source, _, _ = fleet_source([path])
    report = check(source, lock=False)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    compiled = compile_loaded(report.fleet, report.resolution)
    existing = read_tokens(tokens_out)
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
    try:
        # as compile -o does: build/ may not exist yet
        for parent in {tokens_out.parent, out.parent}:
            parent.mkdir(parents=True, exist_ok=True)
        write_private(
            tokens_out,
            json.dumps({**tokens, **approver_tokens}, indent=2, sort_keys=True) + "\n",
        )
    except OSError as exc:
        fail(f"cannot write {tokens_out}: {exc.strerror or exc}", "pick another --tokens-out path")
    # The tokens first: a config never names hashes of tokens that were not kept.
    out.write_text(dump_json(cfg) + "\n")
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
    header_timeout: float | None = typer.Option(
        None,
        "--header-timeout",
        help="Seconds for a request's whole head to arrive (default: $FLEET_GATEWAY_HEADER_TIMEOUT, else 10).",
    ),
    body_timeout: float | None = typer.Option(
        None,
        "--body-timeout",
        help="Seconds a request body may make no progress (default: $FLEET_GATEWAY_BODY_TIMEOUT, else 30).",
    ),
    min_body_rate: int | None = typer.Option(
        None,
        "--min-body-rate",
        help="Bytes/s a body still arriving must average over each window, 0 = off (default: $FLEET_GATEWAY_MIN_BODY_RATE, else 1024).",
    ),
    body_rate_window: float | None = typer.Option(
        None,
        "--body-rate-window",
        help="Seconds of each window of --min-body-rate, the first one a grace (default: $FLEET_GATEWAY_BODY_RATE_WINDOW, else 5).",
    ),
    keepalive_timeout: float | None = typer.Option(
        None,
        "--keepalive-timeout",
        help="Seconds an idle connection is kept between requests (default: $FLEET_GATEWAY_KEEPALIVE_TIMEOUT, else 5).",
    ),
    max_header_bytes: int | None = typer.Option(
        None,
        "--max-header-bytes",
        help="Largest request line and headers, in bytes (default: $FLEET_GATEWAY_MAX_HEADER_BYTES, else 32768).",
    ),
    max_connections: int | None = typer.Option(
        None,
        "--max-connections",
        help="Most open connections (default: $FLEET_GATEWAY_MAX_CONNECTIONS, else 4096 or half the open-file limit).",
    ),
    max_requests_per_token: int | None = typer.Option(
        None,
        "--max-requests-per-token",
        help="Most requests in flight for one token (default: $FLEET_GATEWAY_MAX_REQUESTS_PER_TOKEN, else a quarter of --max-connections).",
    ),
) -> None:
    """Serve the gateway (uvloop + httptools).

    Slow and idle clients are closed and one token cannot hold every connection: the limits
    and their defaults are listed in the gateway.limits module.
    """
    if not config.exists():
        fail(f"no such config: {config}", "write one with `fleetctl gateway config FLEET`")
    from gateway.limits import Limits
    from gateway.server import serve as run

    try:
        limits = Limits.resolve(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            min_body_rate=min_body_rate,
            body_rate_window=body_rate_window,
            keepalive_timeout=keepalive_timeout,
            max_header_bytes=max_header_bytes,
            max_connections=max_connections,
            max_requests_per_token=max_requests_per_token,
        )
    except ValueError as exc:
        fail(str(exc), "fix the flag or the FLEET_GATEWAY_* variable")
    try:
        run(
            config,
            host=host,
            port=port,
            store=store,
            log_level=log_level,
            otlp_endpoint=otlp_endpoint,
            limits=limits,
        )
    except ValueError as exc:
        from gateway.store.base import StoreURLError

        if isinstance(exc, StoreURLError):
            fail(exc.message, exc.hint or "fix the --store URL")
        fail(str(exc), "fix the config file")
