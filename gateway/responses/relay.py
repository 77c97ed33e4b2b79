"""A streamed Responses call relayed to providers that speak the Responses API.

The non-streamed pass-through (:mod:`gateway.responses.passthrough`) judges a
whole answer; a stream cannot wait for one. Here the caller's body goes to
``<base_url>/responses`` with ``stream: true``, the priced
``max_output_tokens`` and ``store: false``, and the provider's SSE events are
relayed one by one as they arrive, under the same rules as a chat stream
(:mod:`gateway.streaming`):

- attempts fall back (retries, then the chain's fallbacks) only before the
  provider's first byte; an answer that is not an event stream still falls back;
- every event has the credentials the gateway injected replaced, and a secret
  the model spells across ``*.delta`` events is held back until it is whole
  (:class:`gateway.secrets.StreamText`);
- the ``llm_output`` guardrails read the text deltas (the new text plus an
  overlap): a block stops the stream with ``error`` and ``response.failed``;
  redact findings cannot take back text already sent, so they are traced
  (``"applied": false``) and counted;
- the terminal event (``response.completed``, ``response.incomplete`` or the
  provider's ``response.failed``) is held until the call is settled with the
  usage it carries (estimated at a token per four characters when it has none);
  it goes out with ``fleet.cost_usd``;
- a stream that breaks, or ends without a terminal event, is settled with what
  was relayed and ends with ``error`` and ``response.failed``.

Every response object in the events names the virtual model the caller used.
Which events pass: only those that parse as a JSON object with a known
``type`` (:data:`KNOWN`). An event the gateway cannot read cannot be checked
for credentials or by the guardrails, so a line that is not JSON, or a type
not listed, is dropped and counted in the trace (``dropped_events``), never
relayed blind.
"""

from __future__ import annotations

import logging
import time
from itertools import takewhile
from typing import Any

import orjson

from gateway.attempts import Call, _count
from gateway.guardrails import Verdict, check_texts
from gateway.responses.passthrough import PATH
from gateway.responses.reply import new_id, skeleton
from gateway.responses.request import passthrough_body
from gateway.routing import cost_of, plan_attempts
from gateway.secrets import Secrets, StreamText, secrets_for
from gateway.streaming import SCAN_OVERLAP
from gateway.upstream import AttemptFailed, Final

log = logging.getLogger("fleet.gateway")

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# Events whose ``delta`` is model output text, read by the guardrails and the secret holder.
DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.mcp_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)
KNOWN = (
    TERMINAL
    | DELTAS
    | frozenset(
        {
            "response.created",
            "response.in_progress",
            "response.queued",
            "response.output_item.added",
            "response.output_item.done",
            "response.content_part.added",
            "response.content_part.done",
            "response.output_text.done",
            "response.output_text.annotation.added",
            "response.refusal.done",
            "response.function_call_arguments.done",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
            "response.reasoning_summary_text.done",
            "response.reasoning_text.done",
            "response.mcp_call_arguments.done",
            "response.custom_tool_call_input.done",
            # The provider's own tools at work: progress, no text of the model's.
            "response.web_search_call.in_progress",
            "response.web_search_call.searching",
            "response.web_search_call.completed",
            "response.file_search_call.in_progress",
            "response.file_search_call.searching",
            "response.file_search_call.completed",
            "response.mcp_call.in_progress",
            "response.mcp_call.completed",
            "response.mcp_call.failed",
            "response.mcp_list_tools.in_progress",
            "response.mcp_list_tools.completed",
            "response.mcp_list_tools.failed",
            "error",
        }
    )
)


# Events that carry no text of the model's and open a stream.
OPENING = (
    b"event: response.created\n",
    b"event: response.in_progress\n",
    b"event: response.queued\n",
)


def frame(event: dict[str, Any]) -> bytes:
    """One SSE event as the openai SDK reads it: its type, then its JSON."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class HeldDeltas(StreamText):
    """:class:`StreamText` over Responses events: a secret spelled across ``delta``
    fields is replaced in the last held event, the ones before it carry none."""

    def _rewrite(self) -> list[bytes]:
        clean = self.s.text(self.text)
        out = []
        last = len(self.held) - 1
        for i, (block, event, _) in enumerate(self.held):
            if event is not None:
                if isinstance(event.get("delta"), str):
                    event["delta"] = clean if i == last else ""
                block = frame(event)
            out.append(block)
        self.held, self.text = [], ""
        return out


class Relay:
    """The state of one relayed stream: what was seen, what is held, what it costs."""

    def __init__(self, model: str, echo: dict[str, Any], secrets: Secrets | None):
        self.model = model
        self.echo = echo
        self.secrets = secrets
        self.spelled = HeldDeltas(secrets) if secrets else None
        self.buffer = b""
        self.pending: list[bytes] = []  # the lines of the event being read
        self.seq = 0  # the next event's sequence number
        self.sent = 0  # events sent so far: those after them may be held, then dropped
        self.response: dict[str, Any] | None = None  # the latest response object seen
        self.terminal: dict[str, Any] | None = None
        self.text: list[str] = []
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The event blocks to send now for one chunk of the provider's stream."""
        whole = self.buffer + chunk if self.buffer else chunk
        *lines, self.buffer = whole.split(b"\n")
        out: list[bytes] = []
        for line in lines:
            line = line.rstrip(b"\r")
            if line:
                self.pending.append(line)
            elif self.pending:
                block, self.pending = self.pending, []
                out.extend(self._event(block))
        return out

    def end(self) -> list[bytes]:
        """What the secret holder kept back, at the end of a stream that completed."""
        tail = self.buffer.rstrip(b"\r")
        if tail:
            self.pending.append(tail)
        out: list[bytes] = []
        if self.pending:
            block, self.pending, self.buffer = self.pending, [], b""
            out.extend(self._event(block))
        if self.spelled is not None:
            out.extend(self.spelled.flush())
        return out

    def _event(self, lines: list[bytes]) -> list[bytes]:
        if self.terminal is not None:
            return []  # nothing follows the end
        data = b"\n".join(line[5:].lstrip() for line in lines if line.startswith(b"data:"))
        if self.secrets and self.secrets.holds(data):
            data = self.secrets.data(data)
        try:
            event = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or event.get("type") not in KNOWN:
            if data:  # comments and keep-alives carry no data: nothing lost there
                self.dropped += 1
            return []
        kind = event["type"]
        # Numbered by the gateway: the caller sees no gap where an event was dropped.
        event["sequence_number"] = self.seq
        self.seq += 1
        if isinstance(event.get("response"), dict):
            event["response"]["model"] = self.model
            self.response = event["response"]
        if kind in TERMINAL:
            self.terminal = event
            return []  # sent once settled
        delta = event.get("delta") if kind in DELTAS else None
        if not isinstance(delta, str):
            delta = None
        elif delta:
            self.text.append(delta)
        block = frame(event)
        if self.spelled is not None:
            return self.spelled.feed(block, event, delta)
        return [block]

    def usage(self) -> tuple[int, int]:
        response = (self.terminal or {}).get("response")
        block = response.get("usage") if isinstance(response, dict) else None
        if not isinstance(block, dict):
            return 0, 0
        return _count(block.get("input_tokens")), _count(block.get("output_tokens"))

    def closing(self, cost: float) -> bytes:
        """The held terminal event, with the cost."""
        assert self.terminal is not None
        response = self.terminal.get("response")
        if isinstance(response, dict):
            response["fleet"] = {"cost_usd": round(cost, 10)}
        return frame(self.terminal)

    def failure(self, code: str, message: str, cost: float) -> bytes:
        """``error`` and ``response.failed`` for a stream the gateway ends."""
        error = {
            "type": "error",
            "sequence_number": self.sent,
            "code": code,
            "message": message,
            "param": None,
        }
        response = dict(self.response or skeleton(new_id("resp"), self.model, self.echo, "failed"))
        response.update(
            status="failed",
            model=self.model,
            error={"code": "server_error", "message": f"{code}: {message}"},
            fleet={"cost_usd": round(cost, 10)},
        )
        failed = {"type": "response.failed", "sequence_number": self.sent + 1, "response": response}
        self.sent += 2
        return frame(error) + frame(failed)


async def relay(
    call: Call, body: dict[str, Any], model: str, max_out: int, echo: dict[str, Any]
) -> None:
    """Serve one streamed Responses call, relayed; fallback only before the first byte."""
    gw, rt, ident, trace, send = call.gw, call.rt, call.ident, call.trace, call.send
    retry_on = frozenset(rt.config.retries.on_status_codes)
    trace["attempts"] = []
    for i, (vm, provider, target) in enumerate(plan_attempts(rt, call.chain)):
        await call.before_retry(i, vm)
        where = f"{provider}/{target}"
        sent_body = passthrough_body({**body, "stream": True}, target, max_out)
        t0 = time.perf_counter()
        try:
            resp, first = await gw.upstream.open_stream(
                rt.config.providers[provider],
                rt.credentials.get(provider),
                sent_body,
                retry_on,
                PATH,
            )
        except Final as exc:
            call.record(vm, where, t0, status=exc.status)
            await call.pass_back(where, exc.status or 502, exc.body)
            return
        except AttemptFailed as exc:
            call.record(vm, where, t0, error=exc.reason, status=exc.status)
            continue
        kind = resp.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            resp.close()  # nothing reached the caller yet: the next target may serve
            call.record(
                vm,
                where,
                t0,
                error=f"upstream answered {kind or 'no content-type'}, not a stream",
                status=200,
            )
            continue
        call.record(vm, where, t0, "ttfb_ms", status=200)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-fleet-target", where.encode()),
                    (b"x-fleet-virtual-model", vm.encode()),
                    (b"x-fleet-attempts", str(len(trace["attempts"])).encode()),
                ],
            }
        )
        secrets = secrets_for(rt)
        state = Relay(model, echo, secrets if secrets else None)
        rules = rt.config.guardrails.llm_output
        checked, tail = 0, ""
        seen: list[Verdict] = []  # redact findings: traced, not applied
        broken: tuple[str, str] | None = None
        chunk = first
        try:
            while chunk:
                out = state.feed(chunk)
                if rules and len(state.text) > checked:
                    # The new text plus an overlap, not the whole answer again per chunk.
                    fresh = "".join(state.text[checked:])
                    checked = len(state.text)
                    window, tail = tail + fresh, (tail + fresh)[-SCAN_OVERLAP:]
                    _, verdicts, blocked = check_texts("llm_output", rules, [window])
                    seen.extend(v for v in verdicts if v.action != "block" and v not in seen)
                    if blocked is not None:
                        gw.count_verdicts(verdicts, ident)
                        trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
                        broken = (
                            "guardrail_blocked",
                            f"llm_output guardrail '{blocked.detector}' stopped the stream "
                            f"({', '.join(blocked.kinds)})",
                        )
                        # The lifecycle events before the first text still go out.
                        out = list(takewhile(lambda b: b.startswith(OPENING), out))
                        if out:
                            state.sent += len(out)
                            await send(
                                {
                                    "type": "http.response.body",
                                    "body": b"".join(out),
                                    "more_body": True,
                                }
                            )
                        break
                if out:
                    state.sent += len(out)
                    await send(
                        {"type": "http.response.body", "body": b"".join(out), "more_body": True}
                    )
                chunk = await resp.read()
        except Exception as exc:  # the stream broke after its first byte: no fallback now
            broken = (
                "stream_broken",
                f"the provider's stream broke mid-answer ({exc.__class__.__name__}); retry the request",
            )
        finally:
            resp.close()
        rest = b""
        if broken is None:
            rest = b"".join(state.end())
            if state.terminal is None:
                broken = (
                    "stream_broken",
                    "the provider's stream ended before its terminal event; retry the request",
                )
        if seen:
            gw.count_verdicts(seen, ident)
            trace.setdefault("guardrails", []).extend(
                {**v.to_json(), "applied": False} for v in seen
            )
        tokens_in, tokens_out = state.usage()
        if not tokens_in:
            tokens_in = len(sent_body) // 4
        if not tokens_out:
            tokens_out = len("".join(state.text)) // 4
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        error = broken[0] if broken else None
        if (
            broken is None
            and state.terminal is not None
            and state.terminal["type"] == "response.failed"
        ):
            error = "upstream_failed"
        if state.dropped:
            trace["dropped_events"] = state.dropped
        call.served(vm, where, tokens_in, tokens_out, cost, error=error)
        gw.metrics.observe(
            "fleet_gateway_upstream_seconds", time.perf_counter() - t0, loop=ident.loop, model=vm
        )
        final = rest + (state.closing(cost) if broken is None else state.failure(*broken, cost))
        try:
            # Settled before the last event: durable in the store, or in the local journal.
            await call.settle(cost, tokens_in + tokens_out)
        except Exception:  # recording failed for good: the caller still gets its answer
            log.exception("settling a relayed Responses stream failed")
        await send({"type": "http.response.body", "body": final, "more_body": False})
        gw.metrics.inc(
            "fleet_gateway_requests_total",
            outcome=error or "ok",
            loop=ident.loop,
            model=trace["virtual_model"],
        )
        return
    await call.give_up("failed before the first byte")
