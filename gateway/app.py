"""The gateway's ASGI application: the OpenAI-compatible LLM proxy with fleet policy.

No web framework in the hot path: a raw ASGI callable that routes five paths.
``POST /v1/chat/completions`` runs the policy in this order: identity (bearer
token → loop or sub-agent) and the headers it reads, all before the body is
read; the body (its size, then the fields the gateway reads, see
:mod:`gateway.chatrequest`), model grant, run bounds, rate limits, input
guardrails, cache, budget reservation, routing (weighted targets, retries with
backoff, fallback chain), output guardrails, settlement (spend, counters and
the trace committed together), response. Each step lives in its own module
(:mod:`gateway.auth`, :mod:`gateway.ratelimit`, :mod:`gateway.budget`,
:mod:`gateway.routing`, :mod:`gateway.forward`, :mod:`gateway.streaming`, the
last two walking the attempt plan through :class:`gateway.attempts.Call`);
this one orders them and settles.

``/readyz`` asks the store whether it is serving; ``/metrics`` takes the token
in ``FLEET_GATEWAY_METRICS_TOKEN`` when that is set. A fault of the gateway's
own is logged with its traceback and answered as a JSON 500 with an incident id.

The MCP seam: any path under ``/mcp/`` (and ``/approvals``) goes to the ASGI
app returned by ``gateway.mcp.create_mcp_app(gateway)`` when that import
works, else a 404 JSON error. The MCP half gets this :class:`Gateway`: its
``holder.runtime`` (config), ``authenticate(scope, rt)`` and ``store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import os
import secrets
import time
from collections.abc import Awaitable
from random import getrandbits
from typing import Any

from fleet.detect import prepare
from gateway import auth, health
from gateway.asgi import (
    JSON,
    MAX_BODY,
    REQUEST_ID,
    Receive,
    Scope,
    Send,
    header,
    read_json,
    request_id,
    send_error,
    send_json,
    send_response,
    step_value,
    text_value,
)
from gateway.attempts import Call
from gateway.budget import alerts, reserve
from gateway.cache import ResponseCache, cache_key
from gateway.chatrequest import check
from gateway.config import ConfigHolder, Identity, Runtime
from gateway.embeddings import embeddings
from gateway.errors import (
    AuthError,
    BadRequestError,
    ForbiddenError,
    GatewayError,
    NotFoundError,
    TooLargeError,
)
from gateway.forward import complete
from gateway.guardrails import Verdict, apply_to_request, off_loop
from gateway.metrics import Metrics, standard
from gateway.otel import OtlpExporter
from gateway.ratelimit import check_limits
from gateway.responses import responses
from gateway.routing import fallback_chain
from gateway.runs import api as runs
from gateway.store import Reservation, Settlement, Store
from gateway.streaming import stream
from gateway.upstream import Upstream

log = logging.getLogger("fleet.gateway")

__all__ = ["Gateway", "Receive", "Scope", "Send"]

RUN_HEADER = b"x-fleet-run-id"
STEP_HEADER = b"x-fleet-step"
# Set, /metrics answers only 'Authorization: Bearer <it>' (the series name every loop).
OPENMETRICS = b"application/openmetrics-text; version=1.0.0; charset=utf-8"
# RFC 9728 metadata for the MCP routes, answered by the MCP half.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
METRICS_TOKEN_ENV = "FLEET_GATEWAY_METRICS_TOKEN"
# Longer than any probe waits: a stalled store answers not-ready rather than not at all.
READY_TIMEOUT_S = 0.9
TOO_LARGE = TooLargeError(
    "body_too_large",
    f"request body over {MAX_BODY // (1024 * 1024)} MiB: send a shorter conversation",
    extra={"limit": MAX_BODY},
)


class Gateway:
    """Holds the config, the store, the upstream pool, the cache and the metrics."""

    def __init__(
        self,
        holder: ConfigHolder,
        store: Store,
        *,
        upstream: Upstream | None = None,
        watch_interval: float = 1.0,
        exporter: OtlpExporter | None = None,
    ):
        self.holder = holder
        self.store = store
        self.upstream = upstream or Upstream()
        self.cache = ResponseCache()
        self.metrics: Metrics = standard()
        self.watch_interval = watch_interval
        self.exporter = exporter
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mcp: Any = None
        self._mcp_loaded = False
        self.ready = False
        token = os.environ.get(METRICS_TOKEN_ENV)
        self.metrics_auth = f"Bearer {token}".encode() if token else None

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self.holder.path is not None and self.watch_interval > 0:
            self.spawn(self.holder.watch(self.watch_interval))
        checkpoints = getattr(self.store, "checkpoints", None)
        if checkpoints is not None:
            self.spawn(checkpoints())
        if self.exporter is not None:
            self.spawn(self.exporter.run(self.upstream.session, self.holder.runtime.config.fleet))
        # The detectors the guardrails name compile now, not on the first request they read.
        hooks = self.holder.runtime.config.guardrails
        prepare(
            rule.detector
            for rules in (
                hooks.llm_input,
                hooks.llm_output,
                hooks.mcp_pre_tool,
                hooks.mcp_post_tool,
            )
            for rule in rules
        )
        # Everything made by now (modules, config, pydantic models, the server) lives as long
        # as the process: take it out of the collector's sight. A full collection over it
        # costs about 5 ms, a stall of the event loop every few seconds under load.
        gc.collect()
        gc.freeze()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        if self._mcp is not None:
            # Let the MCP proxy finish its calls and queued trace writes while the store is open.
            await self._mcp.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self.exporter is not None:
            await self.exporter.flush(self.upstream.session, self.holder.runtime.config.fleet)
        await self.upstream.close()
        await self.store.close()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _http(self, scope: Scope, receive: Receive, outer: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        rid = request_id(scope)
        scope["fleet.request_id"] = rid.decode()
        tag = (REQUEST_ID, rid)

        async def send(message: dict[str, Any]) -> None:
            # Every answer, errors and streams included, names the request it answers.
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], tag]
            await outer(message)

        try:
            if path == "/v1/chat/completions" and method == "POST":
                await self.chat(scope, receive, send)
            elif path == "/v1/embeddings" and method == "POST":
                await embeddings(self, scope, receive, send)
            elif path == "/v1/responses" and method == "POST":
                await responses(self, scope, receive, send)
            elif path == "/v1/models" and method == "GET":
                await self.list_models(scope, send)
            elif path.startswith("/v1/models/") and method == "GET":
                await self.get_model(scope, send, path[len("/v1/models/") :])
            elif path == "/healthz":
                await send_json(send, 200, {"status": "ok"})
            elif path == "/readyz":
                await self.readyz(send)
            elif path == "/metrics":
                self.metrics_allowed(scope)
                self.metrics.set("fleet_gateway_config_reloads_total", self.holder.reloads)
                unapplied = getattr(self.store, "unapplied", None)
                if unapplied is not None and (n := unapplied()) is not None:
                    self.metrics.set("fleet_gateway_journal_unapplied_records", n)
                await self.mcp_gauges()
                if b"application/openmetrics-text" in (header(scope, b"accept") or "").encode():
                    body, kind = self.metrics.render(openmetrics=True), OPENMETRICS
                else:
                    body, kind = self.metrics.render(), b"text/plain; version=0.0.4"
                await send_response(send, 200, body.encode(), [(b"content-type", kind)])
            elif (
                path.startswith("/mcp/")
                or path == "/mcp"
                or path.startswith("/approvals")
                or path.startswith(WELL_KNOWN)
            ):
                await self._mcp_app(scope, receive, send)
            elif path == health.PATH:
                await health.handle(self, scope, receive, send)
            elif path.startswith("/v1/fleet/"):
                await runs.handle(self, scope, receive, send)
            else:
                raise NotFoundError(
                    "not_found",
                    f"no route for {method} {path}; the gateway serves /v1/chat/completions, "
                    "/v1/responses, /v1/embeddings and /v1/models",
                )
        except GatewayError as exc:
            await send_error(send, exc)
        except Exception:
            # A fault of the gateway's own: logged in full, answered with an id to find it by.
            incident = secrets.token_hex(6)
            log.exception("internal error %s on %s %s", incident, method, path)
            with contextlib.suppress(Exception):  # the answer may have started already
                await send_json(
                    send,
                    500,
                    {
                        "error": {
                            "type": "server_error",
                            "code": "internal_error",
                            "message": f"internal error in the gateway (incident {incident}, in its log)",
                            "param": None,
                        }
                    },
                )

    async def readyz(self, send: Send) -> None:
        rt = self.holder.runtime
        ok = self.ready
        store_ok: bool | None = None
        healthy = getattr(self.store, "healthy", None)
        if ok and healthy is not None:
            try:
                async with asyncio.timeout(READY_TIMEOUT_S):
                    store_ok = bool(await healthy())
            except Exception as exc:  # whatever the store raises, it is not serving
                log.warning("readiness: the store is unreachable: %r", exc)
                store_ok = False
            ok = store_ok
        await send_json(
            send,
            200 if ok else 503,
            {
                "ready": ok,
                "store": store_ok,
                "config": rt.digest[:12],
                "loops": len(rt.config.loops),
                "last_error": self.holder.last_error,
            },
        )

    def metrics_allowed(self, scope: Scope) -> None:
        if self.metrics_auth is None:
            return
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if not hmac.compare_digest(given, self.metrics_auth):
            raise AuthError(
                "invalid_token" if given else "missing_token",
                f"/metrics takes the token in {METRICS_TOKEN_ENV} of the gateway's "
                "environment, as 'Authorization: Bearer <token>'",
            )

    async def _mcp_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._mcp_loaded:
            self._mcp_loaded = True
            try:
                from gateway.mcp import create_mcp_app
            except ImportError:
                self._mcp = None
            else:
                self._mcp = create_mcp_app(self)
        if self._mcp is None:
            raise NotFoundError("not_found", "the MCP proxy is not installed in this gateway")
        await self._mcp(scope, receive, send)

    # ---------------------------------------------------------------- helpers

    def authenticate(self, scope: Scope, rt: Runtime) -> Identity:
        """The caller's identity (the MCP proxy authenticates the same way)."""
        return auth.authenticate(scope, rt)

    def run_headers(self, scope: Scope) -> tuple[str | None, int | None]:
        """The run id and step the caller sent (400 for a value that cannot be recorded)."""
        return (
            text_value("x-fleet-run-id", header(scope, RUN_HEADER)),
            step_value("x-fleet-step", header(scope, STEP_HEADER)),
        )

    def check_grant(self, rt: Runtime, ident: Identity, model: str) -> None:
        """403 for a virtual model the caller is not granted, 404 for one the fleet lacks."""
        if model in ident.models:
            return
        if model in rt.models:
            raise ForbiddenError(
                "model_not_granted",
                f"'{ident.member}' may not use virtual model '{model}'; it may use: {', '.join(sorted(ident.models)) or 'none'}",
            )
        raise NotFoundError(
            "model_not_found",
            f"no virtual model '{model}' in fleet '{rt.config.fleet}'; '{ident.member}' may use: {', '.join(sorted(ident.models)) or 'none'}",
        )

    async def get_model(self, scope: Scope, send: Send, model: str) -> None:
        """One model as ``GET /v1/models`` lists it; 404 ``model_not_found`` (OpenAI's answer)
        for one the caller is not granted as for one the fleet lacks: the caller learns no
        names it may not use."""
        rt = self.holder.runtime
        ident = self.authenticate(scope, rt)
        if model not in ident.models:
            raise NotFoundError(
                "model_not_found",
                f"The model '{model[:256]}' does not exist or you do not have access to it; "
                f"'{ident.member}' may use: {', '.join(sorted(ident.models)) or 'none'}",
                extra={"param": "model"},
            )
        await send_json(
            send, 200, {"id": model, "object": "model", "created": 0, "owned_by": rt.config.fleet}
        )

    async def mcp_gauges(self) -> None:
        """Approvals pending, read from the store when ``/metrics`` is scraped."""
        if self._mcp is not None:
            with contextlib.suppress(Exception):  # a scrape shows what it can
                await self._mcp.gauges(self.metrics)

    @staticmethod
    def new_trace(
        kind: str,
        scope: Scope,
        ident: Identity,
        run: str | None,
        step: int | None,
        model: str,
        now: float,
        stream: bool,
    ) -> dict[str, Any]:
        """The trace record a model call starts with (chat and embeddings alike)."""
        return {
            # 128 random bits as hex (an OTLP trace id), without a getrandom call per request.
            "id": f"{getrandbits(128):032x}",
            "ts": now,
            "kind": kind,
            "loop": ident.loop,
            "member": ident.member,
            "team": ident.team,
            "run": run,
            "step": step,
            "virtual_model": model,
            "stream": stream,
            "request_id": scope.get("fleet.request_id"),
        }

    async def list_models(self, scope: Scope, send: Send) -> None:
        rt = self.holder.runtime
        ident = self.authenticate(scope, rt)
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": rt.config.fleet}
            for m in sorted(ident.models)
        ]
        await send_json(send, 200, {"object": "list", "data": data})

    # ---------------------------------------------------------------- chat

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        now = time.time()
        rt = self.holder.runtime
        # Who is asking, and whether its headers can be recorded, before a byte of body is read.
        ident = self.authenticate(scope, rt)
        run, step = self.run_headers(scope)
        no_cache = text_value("x-fleet-cache", header(scope, b"x-fleet-cache")) == "off"
        control = text_value("cache-control", header(scope, b"cache-control"), 1024)
        raw, body = await read_json(scope, receive, MAX_BODY, TOO_LARGE)
        bounds = check(body, raw)
        model = body["model"]
        self.check_grant(rt, ident, model)
        trace = self.new_trace("llm", scope, ident, run, step, model, now, bounds.stream)
        labels = {"loop": ident.loop, "model": model}
        try:
            await check_limits(self.store, ident, run, now)
            rules = rt.config.guardrails.llm_input
            verdicts, blocked = await off_loop(
                len(raw) if rules else 0, apply_to_request, body, "llm_input", rules
            )
            self.count_verdicts(verdicts, ident)
            trace["guardrails"] = [v.to_json() for v in verdicts]
            if blocked is not None:
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_input guardrail '{blocked.detector}' blocked the request ({', '.join(blocked.kinds)}); remove that content or ask the fleet owners to adjust the policy",
                    extra={"hook": "llm_input"},
                )
            caching = rt.config.caching
            use_cache = (
                caching.type == "exact"
                and not bounds.stream
                and not no_cache
                and "no-cache" not in (control or "")
            )
            ckey = (
                cache_key(
                    ident.loop if caching.namespace_per == "agent" else rt.config.fleet, model, body
                )
                if use_cache
                else ""
            )
            if use_cache:
                hit = self.cache.get(ckey)
                self.metrics.inc(
                    "fleet_gateway_cache_total", result="hit" if hit else "miss", **labels
                )
                if hit is not None:
                    cached, meta = hit
                    trace.update(
                        cache_hit=True,
                        target=meta.get("target"),
                        cost_usd=0.0,
                        tokens_in=0,
                        tokens_out=0,
                        status=200,
                        attempts=[],
                    )
                    await self.settle(ident, None, 0.0, 0, run, now, trace, started)
                    await send_response(
                        send,
                        200,
                        cached,
                        [
                            *JSON,
                            (b"x-fleet-cache", b"hit"),
                            (b"x-fleet-target", meta.get("target", "").encode()),
                        ],
                    )
                    self.metrics.inc("fleet_gateway_requests_total", outcome="ok", **labels)
                    return
            chain = fallback_chain(rt, model)
            # Every answer of n may run to the limit, which upstream_body always sends.
            reservation = await reserve(self, rt, ident, chain, len(raw), bounds.output_tokens, now)
            call = Call(self, rt, ident, body, chain, reservation, run, now, trace, started, send)
            try:
                if bounds.stream:
                    await stream(call)
                else:
                    await complete(call, ckey if use_cache else "")
            except BaseException:
                if reservation is not None and not trace.get("settled"):
                    await self.store.release(reservation)
                raise
        except GatewayError as exc:
            self.metrics.inc("fleet_gateway_requests_total", outcome=exc.code, **labels)
            if not trace.get("settled"):
                trace.update(status=exc.status, error=exc.code, message=exc.message)
                trace.setdefault("cost_usd", 0.0)
                await self.settle(ident, None, 0.0, 0, run, now, trace, started)
            raise

    def count_verdicts(self, verdicts: list[Verdict], ident: Identity) -> None:
        for v in verdicts:
            self.metrics.inc(
                "fleet_gateway_guardrail_verdicts_total",
                hook=v.hook,
                detector=v.detector,
                action=v.action,
                loop=ident.loop,
            )

    async def settle(
        self,
        ident: Identity,
        reservation: Reservation | None,
        cost: float,
        tokens: int,
        run: str | None,
        now: float,
        trace: dict[str, Any],
        started: float,
    ) -> None:
        trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        trace["settled"] = True
        settlement = Settlement(
            reservation, cost, ident.loop, int(now // 60), tokens, run, tokens, trace
        )
        spent = await self.store.settle(settlement)
        if self.exporter is not None:
            self.exporter.add(trace)
        model = trace.get("virtual_model", "")
        self.metrics.observe(
            "fleet_gateway_request_seconds",
            trace["latency_ms"] / 1000,
            loop=ident.loop,
            model=model,
        )
        if tokens:
            self.metrics.inc(
                "fleet_gateway_tokens_total",
                trace.get("tokens_in", 0),
                loop=ident.loop,
                model=model,
                direction="in",
            )
            self.metrics.inc(
                "fleet_gateway_tokens_total",
                trace.get("tokens_out", 0),
                loop=ident.loop,
                model=model,
                direction="out",
            )
        if cost:
            self.metrics.inc("fleet_gateway_cost_usd_total", cost, loop=ident.loop, model=model)
        if reservation is not None:
            for key in reservation.keys:
                used = spent.get(key.key, 0.0)
                ratio = used / key.limit if key.limit else 0.0
                self.metrics.set(
                    "fleet_gateway_budget_used_ratio", ratio, budget=key.key.rsplit(":", 2)[0]
                )
                await alerts(self, ident, key, ratio)
