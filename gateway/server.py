"""Serve the gateway: uvicorn with uvloop and httptools, one process.

``fleetctl gateway serve --config FILE`` and ``python -m gateway`` both end here.
Every connection runs :class:`gateway.conn.GatewayProtocol` (header, body and
keep-alive deadlines, a header size bound, a connection cap) and every request
passes :class:`gateway.limits.TokenLimiter` (requests in flight per token); the
limits, their defaults, env variables and flags are listed in :mod:`gateway.limits`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.conn import Connections
from gateway.limits import App, Limits, TokenLimiter
from gateway.otel import OtlpExporter, endpoint_from_env
from gateway.store import open_store


def build(
    config: Path,
    store: str = "sqlite:gateway.sqlite3",
    watch_interval: float = 1.0,
    otlp_endpoint: str | None = None,
) -> Gateway:
    """``otlp_endpoint`` (else ``OTEL_EXPORTER_OTLP_ENDPOINT``) turns on OTLP trace export."""
    otlp = otlp_endpoint or endpoint_from_env()
    return Gateway(
        ConfigHolder.from_file(config),
        open_store(store, exclusive=True),  # a second gateway on a SQLite file is refused
        watch_interval=watch_interval,
        exporter=OtlpExporter(otlp) if otlp else None,
    )


def uvicorn_config(
    app: App,
    limits: Limits,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "warning",
) -> uvicorn.Config:
    """The uvicorn config the gateway runs under: ``app`` behind the per-token limiter, on
    connections bounded by ``limits`` (which also sets the keep-alive timeout). Tests serve
    through this too."""
    return uvicorn.Config(
        TokenLimiter(app, limits.max_requests_per_token),
        host=host,
        port=port,
        loop="uvloop",
        http=Connections(limits).protocol(),
        ws="none",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        # The gateway reads no forwarded-for headers and adds no Server/Date headers:
        # each is a per-request cost on the hot path.
        proxy_headers=False,
        server_header=False,
        date_header=False,
        backlog=4096,
        timeout_graceful_shutdown=10,
    )


def serve(
    config: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    store: str = "sqlite:gateway.sqlite3",
    log_level: str = "warning",
    watch_interval: float = 1.0,
    otlp_endpoint: str | None = None,
    limits: Limits | None = None,
) -> None:
    """Run until stopped. ``limits`` defaults to :meth:`Limits.resolve` (env, then defaults)."""
    limits = limits or Limits.resolve()
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = build(config, store, watch_interval, otlp_endpoint)
    uvicorn.Server(uvicorn_config(app, limits, host=host, port=port, log_level=log_level)).run()
