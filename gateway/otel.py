"""Optional OpenTelemetry export of the gateway's trace records, as OTLP/HTTP JSON.

The store keeps every trace record; this module also ships them to an
OpenTelemetry collector when ``--otlp-endpoint`` (or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``) is set. It speaks the OTLP JSON encoding over
the gateway's pooled HTTP session, so no OpenTelemetry SDK sits in the hot
path: requests only append to a bounded queue; a background task posts
batches. One span per request (``chat <virtual model>``) carries the GenAI
semantic attributes plus the fleet's own; each upstream attempt is a span
event. A collector that is down costs dropped spans and a log line, never a
failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("fleet.gateway")

MAX_QUEUE = 20_000
MAX_BATCH = 512

# trace record field → span attribute
_ATTRIBUTES = (
    ("virtual_model", "gen_ai.request.model"),
    ("target", "gen_ai.response.model"),
    ("tokens_in", "gen_ai.usage.input_tokens"),
    ("tokens_out", "gen_ai.usage.output_tokens"),
    ("loop", "fleet.loop"),
    ("member", "fleet.member"),
    ("team", "fleet.team"),
    ("run", "fleet.run"),
    ("step", "fleet.step"),
    ("cost_usd", "fleet.cost_usd"),
    ("cache_hit", "fleet.cache_hit"),
    ("retries", "fleet.retries"),
    ("stream", "fleet.stream"),
    ("status", "http.response.status_code"),
    ("error", "error.type"),
)


def endpoint_from_env() -> str | None:
    """The OTLP traces URL from the standard environment variables, if any."""
    url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if url:
        return url
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return traces_url(base) if base else None


def traces_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # OTLP JSON carries 64-bit ints as strings
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attrs(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in pairs if v is not None]


def to_span(record: dict[str, Any]) -> dict[str, Any]:
    """One gateway trace record → one OTLP span (JSON encoding)."""
    trace_id = str(record.get("id") or os.urandom(16).hex())[:32].rjust(32, "0")
    start = float(record.get("ts") or time.time())
    latency_ms = float(record.get("latency_ms") or 0.0)
    start_ns = int(start * 1e9)
    end_ns = start_ns + int(latency_ms * 1e6)
    status = record.get("status")
    failed = bool(record.get("error")) or (isinstance(status, int) and status >= 400)
    events = [
        {
            "timeUnixNano": str(start_ns),
            "name": "attempt",
            "attributes": _attrs(
                [
                    ("fleet.attempt", i),
                    ("fleet.virtual_model", a.get("virtual_model")),
                    ("fleet.target", a.get("target")),
                    ("http.response.status_code", a.get("status")),
                    ("error.type", a.get("error")),
                ]
            ),
        }
        for i, a in enumerate(record.get("attempts") or [])
    ]
    events += [
        {
            "timeUnixNano": str(start_ns),
            "name": "guardrail",
            "attributes": _attrs(
                [
                    ("fleet.guardrail.hook", v.get("hook")),
                    ("fleet.guardrail.detector", v.get("detector")),
                    ("fleet.guardrail.action", v.get("action")),
                    ("fleet.guardrail.kinds", ",".join(v.get("kinds") or [])),
                ]
            ),
        }
        for v in record.get("guardrails") or []
    ]
    kind = record.get("kind", "llm")
    name = f"chat {record.get('virtual_model', '')}" if kind == "llm" else f"{kind}"
    return {
        "traceId": trace_id,
        "spanId": trace_id[:16],
        "name": name.strip(),
        "kind": 2,  # SERVER
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": _attrs(
            [("gen_ai.operation.name", "chat" if kind == "llm" else kind)]
            + [(attr, record.get(field)) for field, attr in _ATTRIBUTES]
        ),
        "events": events,
        "status": {"code": 2 if failed else 1},
    }


def to_request(records: list[dict[str, Any]], service: str, fleet: str) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": _attrs([("service.name", service), ("fleet.name", fleet)])
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "fleet.gateway"},
                        "spans": [to_span(r) for r in records],
                    }
                ],
            }
        ]
    }


class OtlpExporter:
    """Queue trace records; post them in batches from a background task."""

    def __init__(self, url: str, *, service: str = "fleet-gateway", interval: float = 1.0):
        self.url = traces_url(url)
        self.service = service
        self.interval = interval
        self.queue: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUE)
        self.exported = 0
        self.failed = 0
        self._wake = asyncio.Event()

    def add(self, record: dict[str, Any]) -> None:
        self.queue.append(record)
        if len(self.queue) >= MAX_BATCH:
            self._wake.set()

    async def run(self, session: aiohttp.ClientSession, fleet: str) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush(session, fleet)

    async def flush(self, session: aiohttp.ClientSession, fleet: str) -> None:
        while self.queue:
            batch = [self.queue.popleft() for _ in range(min(MAX_BATCH, len(self.queue)))]
            body = orjson.dumps(to_request(batch, self.service, fleet))
            try:
                async with session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        raise RuntimeError(f"collector answered {resp.status}")
            except Exception as exc:  # telemetry must never fail the data plane
                self.failed += len(batch)
                log.warning("OTLP export of %d spans to %s failed: %s", len(batch), self.url, exc)
                return
            self.exported += len(batch)
