"""``python -m dashboard``: the dashboard as its own Deployment in a cluster (the image's
entry point), beside the fleet's gateway and outside its request path.

In a cluster there is no fleet directory: the operator renders the fleet's definitions (the
FleetPolicy's and each AgentLoop's spec, what it reconciles) into the ConfigMap
``fleet-dashboard``, with the viewers' token hashes, and mounts the gateway's own config (the
approvers' hashes and the loops' token hashes, refused by name). This entry point reads those
files, opens the gateway's store read-only (SQLite through a ``mode=ro`` connection that takes
neither the journal nor the write lock; Redis through the same readers the pages call) and
serves the pages on uvicorn. Decisions go to the gateway's approvals API (``--gateway``).
Reading always takes a viewer's or approver's token: there is no ``--open`` here.

Each flag may come from the environment instead (``FLEET_DASHBOARD_<FLAG>``, ``-`` as
``_``). A mistake is one line on stderr naming the file or flag, and exit code 2.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import orjson

GZIP_MAGIC = b"\x1f\x8b"


class StartError(Exception):
    """What keeps the dashboard from starting, and what to do about it."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class ClusterAgent:
    """One loop as the pages read it (``.agent``), from its AgentLoop's spec."""

    agent: Any


@dataclass
class ClusterFleet:
    """The fleet as the pages read it (``.fleet``, ``.agents``), from the CRs' specs."""

    fleet: Any
    agents: list[ClusterAgent] = field(default_factory=list)


def read_json(path: Path, what: str) -> Any:
    """A JSON file, gzipped or not (the operator gzips what would not fit a ConfigMap)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StartError(
            f"cannot read {what} {path}: {exc.strerror or exc}", "check the mounted ConfigMap"
        ) from None
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise StartError(f"{path}: not a whole gzip file: {exc}", "re-render it") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StartError(f"{path}: not JSON: {exc}", f"give {what} as JSON") from None


def load_definitions(path: Path) -> ClusterFleet:
    """``{"policy": <FleetPolicy spec>, "loops": {name: {"spec", "promotesTo"}}}`` (a file,
    or a directory holding ``fleet.json`` or ``fleet.json.gz``) as the pages' fleet."""
    from fleet.resources import agent_of, fleet_of

    if path.is_dir():
        found = [p for p in (path / "fleet.json", path / "fleet.json.gz") if p.is_file()]
        if not found:
            raise StartError(f"{path}: no fleet.json in it", "mount the fleet-dashboard ConfigMap")
        path = found[0]
    data = read_json(path, "the fleet definitions")
    if not isinstance(data, dict) or not isinstance(data.get("loops"), dict):
        raise StartError(f"{path}: expected {{policy, loops}}", "mount what the operator renders")
    try:
        fleet = fleet_of(data.get("policy") or {})
        agents = [
            ClusterAgent(
                agent_of(name, (loop or {}).get("spec") or {}, (loop or {}).get("promotesTo"))
            )
            for name, loop in sorted(data["loops"].items())
        ]
    except ValueError as exc:
        raise StartError(f"{path}: {exc}", "mount what the operator renders") from None
    return ClusterFleet(fleet, agents)


def gateway_config(path: Path) -> Any:
    from fleet.gwconfig import ConfigError, load

    try:
        return load(read_json(path, "the gateway config"))
    except ConfigError as exc:
        raise StartError(f"{path}: {exc}", "mount the fleet's gateway config") from None


def viewers(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    from dashboard.access import ConfigError, read_viewers

    try:
        return read_viewers(path)
    except ConfigError as exc:
        raise StartError(
            str(exc), "each viewer maps to the sha256 hashes of their tokens"
        ) from None


def open_read_only(url: str) -> Any:
    """The gateway's store, opened so the dashboard cannot write to it.

    SQLite: a ``mode=ro`` connection, without taking the journal the gateway owns (what it
    has not folded yet is read from the journal's files, as the gateway's own readers do);
    any write fails. Redis: the store the gateway uses, of which the pages call only
    readers."""
    from gateway.health import ReadOnlySqlite
    from gateway.store import open_store

    if url.startswith(("redis://", "rediss://", "unix://")):
        return open_store(url, create=False)
    path = url.removeprefix("sqlite:").removeprefix("//").partition("?")[0]
    if not path or path == ":memory:" or not Path(path).is_file():
        raise StartError(
            f"no store at {path or '(none)'}", "point --store at the gateway's sqlite:PATH"
        )
    return ReadOnlySqlite(path)


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"FLEET_DASHBOARD_{name.upper().replace('-', '_')}", default)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--definitions", default=_env("definitions"), help="fleet.json (or its dir)")
    p.add_argument("--config", default=_env("config"), help="the gateway config (approvers)")
    p.add_argument("--viewers", default=_env("viewers"), help='{"name": ["<sha256>", …]}')
    p.add_argument("--store", default=_env("store"), help="sqlite:PATH or redis://… (read only)")
    p.add_argument("--gateway", default=_env("gateway"), help="where decisions are sent")
    p.add_argument("--host", default=_env("host", "0.0.0.0"))
    p.add_argument("--port", default=_env("port", "8090"))
    p.add_argument("--refresh", default=_env("refresh", "15"), help="seconds a view may age")
    p.add_argument(
        "--secure-cookie",
        action="store_true",
        default=_env("secure-cookie", "") not in ("", "0", "false"),
        help="sessions only over HTTPS (behind a TLS ingress)",
    )
    return p


def build(args: argparse.Namespace) -> Any:
    """The ASGI app the flags describe (a :class:`StartError` when they do not add up)."""
    from dashboard.access import Access
    from dashboard.app import Dashboard, create_app
    from dashboard.attention import doctor_findings
    from dashboard.decide import Gateway, Nowhere

    for flag in ("definitions", "config", "store"):
        if not getattr(args, flag):
            raise StartError(f"no --{flag}", f"give --{flag} (or FLEET_DASHBOARD_{flag.upper()})")
    try:
        refresh = float(args.refresh)
    except ValueError:
        raise StartError(f"--refresh {args.refresh!r} is not a number", "give seconds") from None
    if not refresh >= 0:
        raise StartError(f"--refresh {refresh} is negative", "give seconds, 0 for every page")
    loaded = load_definitions(Path(args.definitions))
    cfg = gateway_config(Path(args.config))
    access = Access.from_config(cfg, viewers(Path(args.viewers) if args.viewers else None))
    if not access.approvers and not access.viewers:
        # Not an error: the Secrets may come later (the operator re-renders and rolls the pod).
        print("fleet dashboard: no viewer or approver yet: nobody can sign in", file=sys.stderr)
    url = args.store
    store = open_read_only(url)  # fail at start, not at the first page
    dash = Dashboard(
        loaded=loaded,
        open_store=lambda: store,
        access=access,
        decider=Gateway(args.gateway) if args.gateway else Nowhere(),
        gateway_config=cfg,
        findings=doctor_findings,
        findings_connected=True,
        secure_cookie=bool(args.secure_cookie),
        refresh_s=refresh,
    )
    app = create_app(dash)

    from starlette.responses import JSONResponse

    async def healthz(request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", "loops": len(loaded.agents)})

    app.add_route("/healthz", healthz, methods=["GET"])
    return app


def fail(exc: StartError) -> NoReturn:
    print(f"error: {exc.message} ({exc.hint})", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        port = int(args.port)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        fail(StartError(f"--port {args.port!r} is not a port", "use 1-65535"))
    try:
        app = build(args)
    except StartError as exc:
        fail(exc)
    import uvicorn

    print(
        f"fleet dashboard on http://{args.host}:{port}/ (store {args.store}, read only)",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=port, log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    main()
