"""OTLP export: every request becomes a span at a collector, with GenAI and fleet attributes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import orjson

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.otel import OtlpExporter, traces_url
from gateway.store import open_store
from tests.gateway.conftest import TOKENS, base_config
from tests.gateway.fakes import FakeProvider, ServerThread, Step


class Collector:
    """Stands in for an OpenTelemetry collector's OTLP/HTTP receiver."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append((scope["path"], orjson.loads(body)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def spans(self) -> list[dict[str, Any]]:
        return [
            span
            for _, req in self.requests
            for rs in req["resourceSpans"]
            for ss in rs["scopeSpans"]
            for span in ss["spans"]
        ]


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_requests_are_exported_as_spans(
    provider: tuple[FakeProvider, str], fake: FakeProvider, tmp_path: Path
) -> None:
    fake.script("m-main", Step(status=503), Step())
    collector = Collector()
    config = tmp_path / "gw.json"
    config.write_bytes(orjson.dumps(base_config(provider[1])))
    with ServerThread(collector) as otlp:
        app = Gateway(
            ConfigHolder.from_file(config),
            open_store(f"sqlite:{tmp_path / 'gw.sqlite3'}"),
            watch_interval=0,
            exporter=OtlpExporter(otlp.url, interval=0.05),
        )
        with ServerThread(app, loop="uvloop") as gw:
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key=TOKENS["alpha"], max_retries=0)
            c.chat.completions.create(
                model="main",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-fleet-run-id": "run-otel", "x-fleet-step": "3"},
            )
            deadline = time.time() + 5
            while not collector.spans() and time.time() < deadline:
                time.sleep(0.02)
    (span,) = collector.spans()
    assert {path for path, _ in collector.requests} == {"/v1/traces"}
    a = attrs(span)
    assert span["name"] == "chat main" and span["status"]["code"] == 1
    assert (a["gen_ai.request.model"], a["fleet.loop"], a["fleet.run"], a["fleet.step"]) == (
        "main",
        "alpha",
        "run-otel",
        "3",
    )
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == ("11", "7")
    assert a["fleet.cost_usd"] > 0 and a["fleet.retries"] == "1"
    attempts = [e for e in span["events"] if e["name"] == "attempt"]
    assert [attrs(e).get("http.response.status_code") for e in attempts] == ["503", "200"]
    assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16


def test_traces_url_appends_the_signal_path() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/v1/traces/") == "http://collector:4318/v1/traces"
