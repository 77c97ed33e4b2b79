"""The gateway's ASGI application: the OpenAI-compatible LLM proxy with fleet policy.

No web framework in the hot path: a raw ASGI callable that routes five paths.
``POST /v1/chat/completions`` runs the policy in this order: identity (bearer
token → loop or sub-agent), model grant, run bounds, rate limits, input
guardrails, cache, budget reservation, routing (weighted targets, retries with
backoff, fallback chain), output guardrails, settlement (spend, counters and
the trace committed together), response. Paths under ``/mcp/`` go to the MCP
proxy (:mod:`gateway.mcp`) when it is installed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from fleet.gwconfig import GwProvider
from gateway.cache import ResponseCache, cache_key
from gateway.config import ConfigHolder, Identity, Runtime
from gateway.errors import (
    AuthError,
    BadRequestError,
    ForbiddenError,
    GatewayError,
    LimitError,
    NotFoundError,
    UpstreamError,
)
from gateway.guardrails import Verdict, apply_to_messages, check_texts
from gateway.metrics import Metrics, standard
from gateway.otel import OtlpExporter
from gateway.store import BudgetKey, Denied, Reservation, Settlement, Store
from gateway.upstream import AttemptFailed, Final, Upstream
from gateway.windows import window

log = logging.getLogger("fleet.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MAX_OUTPUT_TOKENS = 4096
MAX_BODY = 8 * 1024 * 1024
RUN_HEADER = b"x-fleet-run-id"
STEP_HEADER = b"x-fleet-step"
JSON = [(b"content-type", b"application/json")]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


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
            self._spawn(self.holder.watch(self.watch_interval))
        checkpoints = getattr(self.store, "checkpoints", None)
        if checkpoints is not None:
            self._spawn(checkpoints())
        if self.exporter is not None:
            self._spawn(self.exporter.run(self.upstream.session, self.holder.runtime.config.fleet))
        # Long-lived objects made at start-up need no scanning by the cyclic collector.
        gc.collect()
        gc.freeze()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        for task in list(self._tasks):
            task.cancel()
        if self.exporter is not None:
            await self.exporter.flush(self.upstream.session, self.holder.runtime.config.fleet)
        await self.upstream.close()
        await self.store.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path == "/v1/chat/completions" and method == "POST":
                await self.chat(scope, receive, send)
            elif path == "/v1/models" and method == "GET":
                await self.list_models(scope, send)
            elif path == "/healthz":
                await _json(send, 200, {"status": "ok"})
            elif path == "/readyz":
                rt = self.holder.runtime
                ok = self.ready
                await _json(
                    send,
                    200 if ok else 503,
                    {
                        "ready": ok,
                        "config": rt.digest[:12],
                        "loops": len(rt.config.loops),
                        "last_error": self.holder.last_error,
                    },
                )
            elif path == "/metrics":
                self.metrics.set("fleet_gateway_config_reloads_total", self.holder.reloads)
                await _send(
                    send,
                    200,
                    self.metrics.render().encode(),
                    [(b"content-type", b"text/plain; version=0.0.4")],
                )
            elif path.startswith("/mcp/") or path.startswith("/approvals"):
                await self._mcp_app(scope, receive, send)
            else:
                raise NotFoundError(
                    "not_found",
                    f"no route for {method} {path}; the gateway serves /v1/chat/completions and /v1/models",
                )
        except GatewayError as exc:
            await _error(send, exc)

    async def _mcp_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._mcp_loaded:
            self._mcp_loaded = True
            try:
                from gateway.mcp import create_mcp_app  # type: ignore[attr-defined]
            except ImportError:
                self._mcp = None
            else:
                self._mcp = create_mcp_app(self)
        if self._mcp is None:
            raise NotFoundError("not_found", "the MCP proxy is not installed in this gateway")
        await self._mcp(scope, receive, send)

    # ---------------------------------------------------------------- helpers

    def authenticate(self, scope: Scope, rt: Runtime) -> Identity:
        auth = _header(scope, b"authorization")
        if not auth or not auth.lower().startswith("bearer "):
            raise AuthError(
                "missing_token",
                "no bearer token: send the loop's gateway token as 'Authorization: Bearer <token>'",
            )
        ident = rt.identify(auth[7:].strip())
        if ident is None:
            raise AuthError(
                "invalid_token",
                "unknown or revoked token: use the token from the loop's Secret (it changes when rotated)",
            )
        return ident

    async def list_models(self, scope: Scope, send: Send) -> None:
        rt = self.holder.runtime
        ident = self.authenticate(scope, rt)
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": rt.config.fleet}
            for m in sorted(ident.models)
        ]
        await _json(send, 200, {"object": "list", "data": data})

    def _budget_keys(self, rt: Runtime, ident: Identity, now: float) -> list[BudgetKey]:
        tz = rt.config.timezone
        keys: list[BudgetKey] = []
        if ident.budget is not None:
            wkey, resets = window(ident.budget.window, tz, now)
            keys.append(BudgetKey(f"loop:{ident.loop}:{wkey}", ident.budget.limit_usd, resets))
        for shared in rt.config.shared_budgets:
            wkey, resets = window(shared.window, tz, now)
            scope = f"team:{ident.team}" if shared.applies_per == "team" else "fleet"
            keys.append(BudgetKey(f"{scope}:{wkey}", shared.limit_usd, resets))
        return keys

    def _route(self, rt: Runtime, model: str) -> list[str]:
        chain: list[str] = []
        todo = [model]
        while todo:
            name = todo.pop(0)
            if name in chain or name not in rt.models:
                continue
            chain.append(name)
            todo.extend(rt.models[name].fallback)
        return chain

    def _max_cost(self, rt: Runtime, chain: list[str], body_len: int, max_out: int) -> float:
        prompt = body_len // 3 + 16
        worst = 0.0
        for name in chain:
            for t in rt.models[name].targets:
                pin, pout = rt.prices.get(f"{t.provider}/{t.model}", (0.0, 0.0))
                worst = max(worst, prompt * pin + max_out * pout)
        return worst

    # ---------------------------------------------------------------- chat

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        now = time.time()
        rt = self.holder.runtime
        raw = await _read_body(receive)
        ident = self.authenticate(scope, rt)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError("invalid_json", f"request body is not JSON: {exc}") from exc
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("messages"), list)
            or not isinstance(body.get("model"), str)
        ):
            raise BadRequestError(
                "invalid_request",
                "expected a JSON object with 'model' (a virtual model name) and 'messages' (a list)",
            )
        model = body["model"]
        if model not in ident.models:
            if model in rt.models:
                raise ForbiddenError(
                    "model_not_granted",
                    f"'{ident.member}' may not use virtual model '{model}'; it may use: {', '.join(sorted(ident.models)) or 'none'}",
                )
            raise NotFoundError(
                "model_not_found",
                f"no virtual model '{model}' in fleet '{rt.config.fleet}'; '{ident.member}' may use: {', '.join(sorted(ident.models)) or 'none'}",
            )
        run = _header(scope, RUN_HEADER)
        step = _header(scope, STEP_HEADER)
        trace: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "ts": now,
            "kind": "llm",
            "loop": ident.loop,
            "member": ident.member,
            "team": ident.team,
            "run": run,
            "step": int(step) if step and step.isdigit() else None,
            "virtual_model": model,
            "stream": bool(body.get("stream")),
        }
        labels = {"loop": ident.loop, "model": model}
        try:
            await self._limits(ident, run, now)
            verdicts, blocked = apply_to_messages(
                body["messages"], "llm_input", rt.config.guardrails.llm_input
            )
            self._count_verdicts(verdicts, ident)
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
                and not body.get("stream")
                and _header(scope, b"x-fleet-cache") != "off"
                and "no-cache" not in (_header(scope, b"cache-control") or "")
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
                    await self._settle(ident, None, 0.0, 0, run, now, trace, started)
                    await _send(
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
            chain = self._route(rt, model)
            max_out = (
                body.get("max_completion_tokens")
                or body.get("max_tokens")
                or DEFAULT_MAX_OUTPUT_TOKENS
            )
            if not isinstance(max_out, int) or max_out <= 0:
                raise BadRequestError("invalid_max_tokens", "max_tokens must be a positive integer")
            reservation = await self._reserve(rt, ident, chain, len(raw), max_out, now)
            try:
                if body.get("stream"):
                    await self._stream(
                        rt, ident, body, chain, reservation, run, now, trace, started, send
                    )
                else:
                    await self._complete(
                        rt,
                        ident,
                        body,
                        chain,
                        reservation,
                        run,
                        now,
                        trace,
                        started,
                        send,
                        ckey if use_cache else "",
                    )
            except BaseException:
                if reservation is not None and not trace.get("settled"):
                    await self.store.release(reservation)
                raise
        except GatewayError as exc:
            self.metrics.inc("fleet_gateway_requests_total", outcome=exc.code, **labels)
            if not trace.get("settled"):
                trace.update(status=exc.status, error=exc.code, message=exc.message)
                trace.setdefault("cost_usd", 0.0)
                await self._settle(ident, None, 0.0, 0, run, now, trace, started)
            raise

    async def _limits(self, ident: Identity, run: str | None, now: float) -> None:
        minute = int(now // 60)
        rate = ident.rate
        if rate.requests_per_minute is not None or rate.tokens_per_minute is not None:
            count = await self.store.hit(ident.loop, minute)
            retry = str(60 - int(now % 60))
            if rate.requests_per_minute is not None and count > rate.requests_per_minute:
                raise LimitError(
                    "rate_limited",
                    f"loop '{ident.loop}' is over {rate.requests_per_minute} requests per minute; retry after {retry} s",
                    headers={"retry-after": retry},
                )
            if rate.tokens_per_minute is not None:
                _, tokens = await self.store.rate(ident.loop, minute)
                if tokens >= rate.tokens_per_minute:
                    raise LimitError(
                        "rate_limited",
                        f"loop '{ident.loop}' used its {rate.tokens_per_minute} tokens for this minute; retry after {retry} s",
                        headers={"retry-after": retry},
                    )
        if run:
            state = await self.store.run_step(ident.loop, run)
            h = ident.harness
            if h.max_steps is not None and state.steps > h.max_steps:
                raise LimitError(
                    "run_step_limit",
                    f"run '{run}' of '{ident.loop}' reached its ceiling of {h.max_steps} steps; end the run",
                )
            if h.max_tokens_per_run is not None and state.tokens >= h.max_tokens_per_run:
                raise LimitError(
                    "run_token_limit",
                    f"run '{run}' of '{ident.loop}' used its {h.max_tokens_per_run} tokens; end the run",
                )

    async def _reserve(
        self,
        rt: Runtime,
        ident: Identity,
        chain: list[str],
        body_len: int,
        max_out: int,
        now: float,
    ) -> Reservation | None:
        keys = self._budget_keys(rt, ident, now)
        if not keys:
            return None
        amount = self._max_cost(rt, chain, body_len, max_out)
        result = await self.store.reserve(keys, amount)
        if isinstance(result, Denied):
            reset = dt.datetime.fromtimestamp(result.key.resets_at, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            self.metrics.set(
                "fleet_gateway_budget_used_ratio",
                min(1.0, result.spent / result.key.limit),
                budget=result.key.key,
            )
            raise LimitError(
                "budget_exceeded",
                f"budget {result.key.key.rsplit(':', 2)[0]} of ${result.key.limit:g} is used up (${result.spent:.4f} spent, ${result.reserved:.4f} in flight, this request may cost up to ${amount:.4f}); the window resets at {reset}",
                headers={
                    "retry-after": str(max(1, int(result.key.resets_at - now))),
                    "x-fleet-budget-reset": reset,
                },
                extra={"resets_at": reset},
            )
        return result

    def _provider(self, rt: Runtime, name: str) -> GwProvider:
        return rt.config.providers[name]

    def _attempts(self, rt: Runtime, chain: list[str]) -> list[tuple[str, str, str]]:
        """The ordered (virtual model, provider, model) attempts: weighted pick, then the others, per model."""
        out: list[tuple[str, str, str]] = []
        attempts = rt.config.retries.attempts
        for name in chain:
            targets = list(rt.models[name].targets)
            order: list[Any] = []
            pool = [t for t in targets if t.weight > 0] or targets
            while pool and len(order) < attempts:
                pick = (
                    random.choices(pool, weights=[max(t.weight, 1e-9) for t in pool])[0]
                    if len(pool) > 1
                    else pool[0]
                )
                order.append(pick)
                if len(pool) > 1:
                    pool = [t for t in pool if t is not pick]
            while len(order) < attempts and targets:
                order.append(order[-1])
            out.extend((name, t.provider, t.model) for t in order)
        return out

    async def _backoff(self, rt: Runtime, i: int) -> None:
        base = rt.config.retries.backoff_ms / 1000.0
        if base > 0:
            await asyncio.sleep(base * (2 ** min(i, 6)) * (0.5 + random.random() / 2))

    def _upstream_body(self, body: dict[str, Any], target_model: str, stream: bool) -> bytes:
        out = dict(body)
        out["model"] = target_model
        if stream:
            out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(out)

    def _cost(
        self, rt: Runtime, provider: str, model: str, tokens_in: int, tokens_out: int
    ) -> float:
        pin, pout = rt.prices.get(f"{provider}/{model}", (0.0, 0.0))
        return tokens_in * pin + tokens_out * pout

    async def _complete(
        self,
        rt: Runtime,
        ident: Identity,
        body: dict[str, Any],
        chain: list[str],
        reservation: Reservation | None,
        run: str | None,
        now: float,
        trace: dict[str, Any],
        started: float,
        send: Send,
        ckey: str,
    ) -> None:
        retry_on = frozenset(rt.config.retries.on_status_codes)
        attempts: list[dict[str, Any]] = []
        trace["attempts"] = attempts
        plan = self._attempts(rt, chain)
        for i, (vm, provider, target) in enumerate(plan):
            if i:
                self.metrics.inc("fleet_gateway_retries_total", loop=ident.loop, model=vm)
                await self._backoff(rt, i - 1)
            t0 = time.perf_counter()
            try:
                reply = await self.upstream.complete(
                    self._provider(rt, provider),
                    rt.credentials.get(provider),
                    self._upstream_body(body, target, False),
                    retry_on,
                )
            except AttemptFailed as exc:
                attempts.append(
                    {
                        "virtual_model": vm,
                        "target": f"{provider}/{target}",
                        "error": exc.reason,
                        "status": exc.status,
                        "ms": round((time.perf_counter() - t0) * 1000, 3),
                    }
                )
                continue
            latency = time.perf_counter() - t0
            self.metrics.observe(
                "fleet_gateway_upstream_seconds", latency, loop=ident.loop, model=vm
            )
            attempts.append(
                {
                    "virtual_model": vm,
                    "target": f"{provider}/{target}",
                    "status": reply.status,
                    "ms": round(latency * 1000, 3),
                }
            )
            if reply.status != 200:
                trace.update(
                    target=f"{provider}/{target}",
                    status=reply.status,
                    error="upstream_error",
                    cost_usd=0.0,
                )
                await self._settle(ident, reservation, 0.0, 0, run, now, trace, started)
                await _send(
                    send,
                    reply.status,
                    reply.body,
                    [*JSON, (b"x-fleet-target", f"{provider}/{target}".encode())],
                )
                return
            try:
                data = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                attempts[-1]["error"] = "upstream sent invalid JSON"
                continue
            usage = data.get("usage") or {}
            tokens_in = int(usage.get("prompt_tokens") or 0)
            tokens_out = int(usage.get("completion_tokens") or 0)
            if not usage:
                tokens_in, tokens_out = (
                    len(self._upstream_body(body, target, False)) // 4,
                    sum(
                        len(str(c.get("message", {}).get("content") or ""))
                        for c in data.get("choices", [])
                    )
                    // 4,
                )
            out_body = reply.body
            rules = rt.config.guardrails.llm_output
            if rules:
                choices = data.get("choices") or []
                texts = [str((c.get("message") or {}).get("content") or "") for c in choices]
                new_texts, verdicts, blocked = check_texts("llm_output", rules, texts)
                self._count_verdicts(verdicts, ident)
                trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
                if blocked is None and new_texts != texts:
                    for c, text in zip(choices, new_texts, strict=True):
                        if isinstance(c.get("message"), dict):
                            c["message"]["content"] = text
                    out_body = orjson.dumps(data)
                if blocked is not None:
                    cost = self._cost(rt, provider, target, tokens_in, tokens_out)
                    trace.update(
                        target=f"{provider}/{target}",
                        status=400,
                        error="guardrail_blocked",
                        tokens_in=tokens_in,
                        tokens_out=tokens_out,
                        cost_usd=cost,
                    )
                    await self._settle(
                        ident, reservation, cost, tokens_in + tokens_out, run, now, trace, started
                    )
                    raise BadRequestError(
                        "guardrail_blocked",
                        f"llm_output guardrail '{blocked.detector}' withheld the model's answer ({', '.join(blocked.kinds)})",
                        extra={"hook": "llm_output"},
                    )
            cost = self._cost(rt, provider, target, tokens_in, tokens_out)
            trace.update(
                target=f"{provider}/{target}",
                served_by=vm,
                status=200,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                cache_hit=False,
                retries=len(attempts) - 1,
            )
            await self._settle(
                ident, reservation, cost, tokens_in + tokens_out, run, now, trace, started
            )
            if ckey:
                self.cache.put(
                    ckey, out_body, {"target": f"{provider}/{target}"}, rt.config.caching.ttl_s
                )
            self.metrics.inc(
                "fleet_gateway_requests_total",
                outcome="ok",
                loop=ident.loop,
                model=trace["virtual_model"],
            )
            headers = [
                *JSON,
                (b"x-fleet-target", f"{provider}/{target}".encode()),
                (b"x-fleet-virtual-model", vm.encode()),
                (b"x-fleet-attempts", str(len(attempts)).encode()),
                (b"x-fleet-cost-usd", f"{cost:.8f}".encode()),
                (b"x-fleet-cache", b"miss" if ckey else b"off"),
            ]
            await _send(send, 200, out_body, headers)
            return
        trace.update(status=502, error="upstream_unavailable", cost_usd=0.0)
        await self._settle(ident, reservation, 0.0, 0, run, now, trace, started)
        reasons = "; ".join(f"{a['target']}: {a.get('error') or a.get('status')}" for a in attempts)
        raise UpstreamError(
            "upstream_unavailable",
            f"every target and fallback failed ({len(attempts)} attempts): {reasons}",
        )

    async def _stream(
        self,
        rt: Runtime,
        ident: Identity,
        body: dict[str, Any],
        chain: list[str],
        reservation: Reservation | None,
        run: str | None,
        now: float,
        trace: dict[str, Any],
        started: float,
        send: Send,
    ) -> None:
        retry_on = frozenset(rt.config.retries.on_status_codes)
        attempts: list[dict[str, Any]] = []
        trace["attempts"] = attempts
        for i, (vm, provider, target) in enumerate(self._attempts(rt, chain)):
            if i:
                self.metrics.inc("fleet_gateway_retries_total", loop=ident.loop, model=vm)
                await self._backoff(rt, i - 1)
            t0 = time.perf_counter()
            try:
                resp, first = await self.upstream.open_stream(
                    self._provider(rt, provider),
                    rt.credentials.get(provider),
                    self._upstream_body(body, target, True),
                    retry_on,
                )
            except Final as exc:
                attempts.append(
                    {"virtual_model": vm, "target": f"{provider}/{target}", "status": exc.status}
                )
                trace.update(
                    target=f"{provider}/{target}",
                    status=exc.status,
                    error="upstream_error",
                    cost_usd=0.0,
                )
                await self._settle(ident, reservation, 0.0, 0, run, now, trace, started)
                await _send(
                    send,
                    exc.status or 502,
                    exc.body,
                    [*JSON, (b"x-fleet-target", f"{provider}/{target}".encode())],
                )
                return
            except AttemptFailed as exc:
                attempts.append(
                    {
                        "virtual_model": vm,
                        "target": f"{provider}/{target}",
                        "error": exc.reason,
                        "status": exc.status,
                    }
                )
                continue
            attempts.append(
                {
                    "virtual_model": vm,
                    "target": f"{provider}/{target}",
                    "status": 200,
                    "ttfb_ms": round((time.perf_counter() - t0) * 1000, 3),
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-cache"),
                        (b"x-fleet-target", f"{provider}/{target}".encode()),
                        (b"x-fleet-virtual-model", vm.encode()),
                        (b"x-fleet-attempts", str(len(attempts)).encode()),
                    ],
                }
            )
            usage: dict[str, Any] = {}
            text_out: list[str] = []
            rules = rt.config.guardrails.llm_output
            buffer = b""
            broken: str | None = None
            saw_done = False
            chunk = first
            try:
                while chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.startswith(b"data: [DONE]"):
                            saw_done = True
                        elif line.startswith(b"data: ") and line[6:].strip():
                            try:
                                event = orjson.loads(line[6:])
                            except orjson.JSONDecodeError:
                                continue
                            if event.get("usage"):
                                usage = event["usage"]
                            for choice in event.get("choices") or []:
                                delta = (choice.get("delta") or {}).get("content")
                                if delta:
                                    text_out.append(delta)
                    if rules and text_out:
                        _, verdicts, blocked = check_texts("llm_output", rules, ["".join(text_out)])
                        if blocked is not None:
                            self._count_verdicts(verdicts, ident)
                            trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
                            error = {
                                "error": {
                                    "type": "invalid_request_error",
                                    "code": "guardrail_blocked",
                                    "message": f"llm_output guardrail '{blocked.detector}' stopped the stream ({', '.join(blocked.kinds)})",
                                }
                            }
                            await send(
                                {
                                    "type": "http.response.body",
                                    "body": b"data: " + orjson.dumps(error) + b"\n\n",
                                    "more_body": False,
                                }
                            )
                            broken = "guardrail_blocked"
                            break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    chunk = await resp.content.readany()
            except (
                TimeoutError,
                OSError,
                Exception,
            ) as exc:  # the stream broke after its first byte: no fallback now
                broken = f"stream broke: {exc.__class__.__name__}"
            finally:
                resp.release()
            if broken is None and not saw_done:
                broken = "stream ended before [DONE]"
            if broken is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif broken != "guardrail_blocked":
                # Past the first byte there is no falling back: tell the client in-band.
                error = {
                    "error": {
                        "type": "upstream_error",
                        "code": "stream_broken",
                        "message": f"the provider's stream broke mid-answer ({broken}); retry the request",
                    }
                }
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + orjson.dumps(error) + b"\n\n",
                        "more_body": False,
                    }
                )
            tokens_in = int(usage.get("prompt_tokens") or len(orjson.dumps(body["messages"])) // 4)
            tokens_out = int(usage.get("completion_tokens") or len("".join(text_out)) // 4)
            cost = self._cost(rt, provider, target, tokens_in, tokens_out)
            trace.update(
                target=f"{provider}/{target}",
                served_by=vm,
                status=200,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                cache_hit=False,
                retries=len(attempts) - 1,
                error=broken,
            )
            await self._settle(
                ident, reservation, cost, tokens_in + tokens_out, run, now, trace, started
            )
            self.metrics.inc(
                "fleet_gateway_requests_total",
                outcome="ok" if broken is None else "stream_broken",
                loop=ident.loop,
                model=trace["virtual_model"],
            )
            return
        trace.update(status=502, error="upstream_unavailable", cost_usd=0.0)
        await self._settle(ident, reservation, 0.0, 0, run, now, trace, started)
        reasons = "; ".join(f"{a['target']}: {a.get('error') or a.get('status')}" for a in attempts)
        raise UpstreamError(
            "upstream_unavailable",
            f"every target and fallback failed before the first byte ({len(attempts)} attempts): {reasons}",
        )

    def _count_verdicts(self, verdicts: list[Verdict], ident: Identity) -> None:
        for v in verdicts:
            self.metrics.inc(
                "fleet_gateway_guardrail_verdicts_total",
                hook=v.hook,
                detector=v.detector,
                action=v.action,
                loop=ident.loop,
            )

    async def _settle(
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
                await self._alerts(ident, key, ratio)

    async def _alerts(self, ident: Identity, key: BudgetKey, ratio: float) -> None:
        rt = self.holder.runtime
        thresholds: list[int] = []
        if key.key.startswith("loop:") and ident.budget is not None:
            thresholds = ident.budget.alert_at
        else:
            for shared in rt.config.shared_budgets:
                if key.key.startswith(
                    "fleet:" if shared.applies_per == "fleet" else f"team:{ident.team}:"
                ):
                    thresholds = shared.alert_at
        for threshold in sorted(thresholds):
            if ratio * 100 >= threshold and await self.store.mark_alert(key.key, threshold):
                budget = key.key.rsplit(":", 2)[0]
                log.warning("budget alert: %s reached %d%% of $%g", budget, threshold, key.limit)
                self.metrics.inc(
                    "fleet_gateway_budget_alerts_total", budget=budget, threshold=str(threshold)
                )
                if rt.config.alert_webhook:
                    self._spawn(
                        self._webhook(
                            rt.config.alert_webhook,
                            {
                                "budget": budget,
                                "threshold": threshold,
                                "ratio": ratio,
                                "limit_usd": key.limit,
                                "loop": ident.loop,
                                "fleet": rt.config.fleet,
                            },
                        )
                    )

    async def _webhook(self, url: str, payload: dict[str, Any]) -> None:
        try:
            async with self.upstream.session.post(
                url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
        except Exception as exc:  # an alert hook that is down must not fail requests
            log.warning("budget alert webhook failed: %s", exc)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError(
                "client_disconnected", "the client went away before sending the body"
            )
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequestError(
                "body_too_large", f"request body over {MAX_BODY // (1024 * 1024)} MiB"
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, payload: Any) -> None:
    await _send(send, status, orjson.dumps(payload), JSON)


async def _error(send: Send, exc: GatewayError) -> None:
    headers = [*JSON, *((k.encode(), v.encode()) for k, v in exc.headers.items())]
    await _send(send, exc.status, exc.body(), headers)
