"""``POST /v1/responses``: the OpenAI Responses API under the same policy as chat.

Agent frameworks (the OpenAI Agents SDK's default model among them) call the
Responses API rather than chat completions, so the gateway serves it rather
than let those loops go around their grants, budgets and traces. The order is
chat's: identity and the run headers before the body; the body's fields
(:mod:`gateway.responses.request`); the model grant; run bounds and rate
limits; ``llm_input`` guardrails over every text a model will see
(instructions, input texts, function call arguments and outputs, tool names,
descriptions and parameter schemas, the output format); a budget reservation
for the output limit; then routing with retries and fallback.

Which way a call goes upstream depends on what the chain's providers speak
(``providers.<name>.api``). When every target's provider speaks Responses,
the caller's body is passed through to ``<base_url>/responses`` with the
output limit the reservation priced, the usage read from the answer, output
guardrails on its texts (:mod:`gateway.responses.passthrough`), or, streamed,
its events relayed as they come (:mod:`gateway.responses.relay`). Otherwise the
call is translated: the chat body :mod:`~gateway.responses.request` wrote goes
down the chat path (:mod:`gateway.forward`, :mod:`gateway.streaming`: the same
attempts, output guardrails, credential masking and settlement), and what it
sends back is rewritten into a Response object or the Responses event stream
(:mod:`gateway.responses.reply`, :mod:`gateway.responses.stream`).

The trace is a chat trace (kind ``llm``, so cost, runs and the doctor count it)
with ``api: "responses"``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.asgi import MAX_BODY, Receive, Scope, Send, read_json
from gateway.attempts import Call
from gateway.budget import reserve
from gateway.errors import BadRequestError, GatewayError, TooLargeError
from gateway.forward import complete
from gateway.guardrails import off_loop
from gateway.ratelimit import check_limits
from gateway.responses.guard import scan
from gateway.responses.passthrough import passthrough, speaks_responses
from gateway.responses.relay import relay
from gateway.responses.reply import from_completion
from gateway.responses.request import check
from gateway.responses.stream import EventStream
from gateway.routing import fallback_chain, limit_field
from gateway.streaming import stream

if TYPE_CHECKING:
    from gateway.app import Gateway

# Requests longer than this are scanned by the guardrails off the event loop (as on chat).
TOO_LARGE = TooLargeError(
    "body_too_large",
    f"request body over {MAX_BODY // (1024 * 1024)} MiB: send a shorter conversation",
    extra={"limit": MAX_BODY},
)


async def responses(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    now = time.time()
    rt = gw.holder.runtime
    ident = gw.authenticate(scope, rt)
    run, step = gw.run_headers(scope)
    raw, body = await read_json(scope, receive, MAX_BODY, TOO_LARGE)
    req = check(body, raw)
    gw.check_grant(rt, ident, req.model)
    chain = fallback_chain(rt, req.model)
    through = speaks_responses(rt, chain)
    trace = gw.new_trace("llm", scope, ident, run, step, req.model, now, req.stream)
    trace["api"] = "responses"
    try:
        await check_limits(gw.store, ident, run, now)
        rules = rt.config.guardrails.llm_input
        if rules:
            verdicts, blocked, changed = await off_loop(len(raw), scan, body, rules)
            gw.count_verdicts(verdicts, ident)
            trace["guardrails"] = [v.to_json() for v in verdicts]
            if blocked is not None:
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_input guardrail '{blocked.detector}' blocked the request "
                    f"({', '.join(blocked.kinds)}); remove that content or ask the fleet "
                    "owners to adjust the policy",
                    extra={"hook": "llm_input"},
                )
            if changed:
                req = check(body, raw)  # redacted in place: the chat body follows
        reservation = await reserve(gw, rt, ident, chain, len(raw), req.max_out, now)
        chat = req.chat
        if not through and "max_completion_tokens" in chat:
            # The caller's max_output_tokens, in the field the first target's provider reads.
            first = rt.models[chain[0]].targets[0].provider
            field = limit_field(rt.config.providers[first].base_url)
            if field != "max_completion_tokens":
                chat[field] = chat.pop("max_completion_tokens")
        out: Send = (
            send
            if through
            else EventStream(send, req.model, req.echo)
            if req.stream
            else AsResponse(send, req.model, req.echo)
        )
        call = Call(gw, rt, ident, chat, chain, reservation, run, now, trace, started, out)
        try:
            if through and req.stream:
                await relay(call, body, req.model, req.max_out, req.echo)
            elif through:
                await passthrough(call, body, req.model, req.max_out)
            elif req.stream:
                await stream(call)
            else:
                await complete(call, "")
        except BaseException:
            if reservation is not None and not trace.get("settled"):
                await gw.store.release(reservation)
            raise
    except GatewayError as exc:
        gw.metrics.inc(
            "fleet_gateway_requests_total", outcome=exc.code, loop=ident.loop, model=req.model
        )
        if not trace.get("settled"):
            trace.update(status=exc.status, error=exc.code, message=exc.message)
            trace.setdefault("cost_usd", 0.0)
            await gw.settle(ident, None, 0.0, 0, run, now, trace, started)
        raise


class AsResponse:
    """The ``send`` a whole chat completion is written to: it sends the Response object
    instead (anything but a 200 goes out as it came)."""

    def __init__(self, out: Send, model: str, echo: dict[str, Any]):
        self.out = out
        self.model = model
        self.echo = echo
        self.start: dict[str, Any] | None = None
        self.relay = False
        self.parts: list[bytes] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.relay = True
                await self.out(message)
            else:
                self.start = message
            return
        if self.relay or self.start is None:
            await self.out(message)
            return
        if message.get("more_body"):
            self.parts.append(message.get("body", b""))
            return
        body = message.get("body", b"")
        if self.parts:
            body = b"".join([*self.parts, body])
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        # One pass over the chat answer's headers: its length is rewritten, its cost read.
        headers: list[tuple[bytes, bytes]] = []
        cost: float | None = None
        for k, v in self.start["headers"]:
            if k == b"content-length":
                continue
            if k == b"x-fleet-cost-usd" and cost is None:
                cost = float(v)
            headers.append((k, v))
        if isinstance(data, dict):
            body = orjson.dumps(from_completion(data, self.model, self.echo, cost))
        headers.append((b"content-length", str(len(body)).encode()))
        await self.out({**self.start, "headers": headers})
        await self.out({"type": "http.response.body", "body": body})
