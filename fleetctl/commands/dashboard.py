"""``fleetctl dashboard --fleet PATH --store URL``: serve the fleet dashboard (the
``dashboard`` package) on uvicorn, reading the gateway's store without writing to it.

Who may read or decide comes from the gateway config (``--config``: its approvers, and its
loops' token hashes, which are refused) and a viewers file (``--viewers``). ``--open`` lets
anyone on this machine read, and only binds to a loopback address. Decisions go to the
gateway's approvals API: ``--gateway URL``, or ``--local HOME`` for a ``fleetctl run`` home
(whose gateway config, tokens and store are then the defaults).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import typer

from fleetctl.output import EXIT_INVALID, Output, fail, fleet_source, print_diagnostics


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_fleet(path: Path) -> Any:
    from fleet.validate import validate

    source, _, _ = fleet_source([path])
    report = validate(source)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    return report.fleet


def _gateway_config(path: Path) -> Any:
    import orjson

    from fleet.gwconfig import ConfigError, load

    hint = "give the file `fleetctl gateway config -o` wrote (or the home's gateway.json)"
    try:
        return load(orjson.loads(path.read_bytes()))
    except OSError as exc:
        fail(f"cannot read the gateway config {path}: {exc.strerror or exc}", "check --config")
    except orjson.JSONDecodeError as exc:
        fail(f"{path}: not JSON: {exc}", hint)
    except ConfigError as exc:
        fail(f"{path}: {exc}", hint)


def dashboard(
    fleet: Path = typer.Option(..., "--fleet", help="The fleet directory (fleet.yaml, agents/)."),
    store: str = typer.Option(
        None, "--store", help="The gateway's store: sqlite:PATH or redis://… (read only)."
    ),
    config: Path = typer.Option(
        None, "--config", help="The gateway config: approvers' and loops' token hashes."
    ),
    viewers: Path = typer.Option(
        None, "--viewers", help='Viewers\' token hashes: {"name": ["<sha256>", …]}.'
    ),
    gateway: str = typer.Option(
        None, "--gateway", help="The gateway's URL, where approve and deny are sent."
    ),
    local: Path = typer.Option(
        None,
        "--local",
        help="A `fleetctl run` home (or its fleet directory): config, store, gateway.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", help="Port to listen on."),
    open_: bool = typer.Option(
        False, "--open", help="Anyone may read without a token (loopback addresses only)."
    ),
    refresh: float = typer.Option(
        15.0,
        "--refresh",
        help="Seconds the fleet view may age before it is read again (0: every page).",
    ),
) -> None:
    """Serve the fleet dashboard: fleet, loop, run, approvals and cost pages from the store."""
    from dashboard.access import Access, ConfigError, read_viewers
    from dashboard.app import Dashboard, create_app
    from dashboard.attention import doctor_findings
    from dashboard.decide import Gateway, LocalHome, Nowhere

    if open_ and not _loopback(host):
        fail(
            f"--open serves every reader without a token, so not on {host}",
            "use --host 127.0.0.1, or drop --open",
        )
    if gateway and local:
        fail("give --gateway or --local, not both", "--local is for a `fleetctl run` home")
    if not refresh >= 0:
        fail(f"--refresh {refresh} is negative", "give seconds, 0 to read the store for every page")
    if not 0 < port < 65536:
        fail(f"--port {port} is not a port", "use 1-65535")
    decider: Any = Nowhere()
    if local is not None:
        from fleetctl.local.errors import LocalError
        from fleetctl.local.home import Home

        try:
            home = Home.find(local)
        except LocalError as exc:
            fail(exc.message, exc.hint)
        config = config or home.config_file
        store = store or home.store_url
        from dashboard.decide import local_replay

        decider = LocalHome(home.path)
    elif gateway:
        decider = Gateway(gateway)
    if not store:
        fail("no --store", "name the gateway's store: sqlite:PATH or redis://…, or give --local")
    if config is None and viewers is None and not open_:
        fail(
            "nobody could sign in", "give --config (approvers), --viewers, or --open for local use"
        )
    loaded = _load_fleet(fleet)
    cfg = _gateway_config(config) if config is not None else None
    try:
        seen = read_viewers(viewers) if viewers is not None else {}
    except ConfigError as exc:
        fail(str(exc), "each viewer maps to the sha256 hashes of their tokens")
    if cfg is not None:
        access = Access.from_config(cfg, seen, open_)
    else:
        access = Access(viewers=seen, open=open_)
    _check_store(store)
    dash = Dashboard(
        loaded=loaded,
        open_store=lambda: _open_read_only(store),
        access=access,
        decider=decider,
        gateway_config=cfg,
        findings=doctor_findings,
        findings_connected=True,
        refresh_s=refresh,
        replay_of=(lambda run: local_replay(home.path, run)) if local is not None else None,
    )
    import uvicorn

    typer.echo(f"fleet dashboard on http://{host}:{port}/ (store {store})", err=True)
    uvicorn.run(create_app(dash), host=host, port=port, log_level="warning")


def _open_read_only(url: str) -> Any:
    """The store, opened so the dashboard cannot write to it: a SQLite file through a
    ``mode=ro`` connection that leaves the journal to the gateway serving it (a gateway
    started while the dashboard is up gets it), Redis through the readers only."""
    from gateway.store import open_store

    if url.startswith(("redis://", "rediss://", "unix://")):
        return open_store(url, create=False)
    from gateway.health import ReadOnlySqlite

    return ReadOnlySqlite(url.removeprefix("sqlite:").removeprefix("//").partition("?")[0])


def _check_store(url: str) -> None:
    """Fail now, in one line, on a store that does not exist or cannot be reached."""
    from fleetctl.output import read_store

    async def probe(st: Any) -> None:
        await st.row_list("fleet_runs", limit=1)

    read_store(url, probe)
