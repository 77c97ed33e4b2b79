"""Custom detector plugins, the budget alert webhook, sub-agent spend and TPM limits,
through the official SDK against the gateway on a real socket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from gateway.store import open_store
from gateway.windows import window
from tests.gateway.conftest import TOKENS, GatewayFactory
from tests.gateway.fakes import FakeProvider, ServerThread, Step

MSG = [{"role": "user", "content": "Label this issue."}]


def client(url: str, token: str = TOKENS["alpha"]) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)


class Receiver:
    """Records JSON POSTs, like an alerting webhook."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.payloads.append(orjson.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize(
    ("action", "expected"),
    [("redact", "Escalate [REDACTED:incident-id] now."), ("block", None)],
)
def test_custom_detector_plugin(
    gateway: GatewayFactory, fake: FakeProvider, action: str, expected: str | None
) -> None:
    rules = [{"detector": "tests.gateway.plugins:ticket_ids", "action": action}]
    fake.script("m-main", Step(content="Escalate INC-123456 now."))
    with gateway(**{"guardrails.llm_output": rules}) as (url, app, _):
        c = client(url)
        if expected is None:
            with pytest.raises(openai.BadRequestError, match="ticket_ids"):
                c.chat.completions.create(model="main", messages=MSG)
        else:
            answer = c.chat.completions.create(model="main", messages=MSG)
            assert answer.choices[0].message.content == expected
        metrics = app.metrics.render()
    assert (
        f'fleet_gateway_guardrail_verdicts_total{{action="{action}",detector="tests.gateway.plugins:ticket_ids",hook="llm_output",loop="alpha"}} 1'
        in metrics
    )


def test_alert_webhook_fires_once_per_threshold(gateway: GatewayFactory) -> None:
    receiver = Receiver()
    with (
        ServerThread(receiver) as hook,
        gateway(
            alert_webhook=hook.url + "/alerts",
            **{"loops.alpha.budget": {"limit_usd": 0.0005, "window": "day", "alert_at": [10]}},
        ) as (url, _, _),
    ):
        c = client(url)
        for i in range(3):
            c.chat.completions.create(
                model="main", messages=[{"role": "user", "content": f"w{i}"}], max_tokens=5
            )
        deadline = time.time() + 5
        while not receiver.payloads and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    (alert,) = receiver.payloads
    assert (alert["budget"], alert["threshold"], alert["loop"], alert["fleet"]) == (
        "loop:alpha",
        10,
        "alpha",
        "testfleet",
    )
    assert alert["ratio"] * 100 >= 10 - 1e-9 and alert["limit_usd"] == 0.0005


def test_subagent_spend_counts_toward_its_loop(gateway: GatewayFactory, store_url: str) -> None:
    with gateway(store_url) as (url, _, _):
        sub = client(url, TOKENS["alpha/checker"])
        answer = sub.chat.completions.with_raw_response.create(model="backup", messages=MSG)
        cost = float(answer.headers["x-fleet-cost-usd"])
        with pytest.raises(openai.PermissionDeniedError, match="alpha/checker"):
            sub.chat.completions.create(model="main", messages=MSG)

    async def spent() -> tuple[float, list[dict[str, Any]]]:
        store = open_store(store_url)
        try:
            key = f"loop:alpha:{window('day', 'Europe/Berlin', time.time())[0]}"
            return await store.spent(key), await store.query_traces()
        finally:
            await store.close()

    total, recorded = asyncio.run(spent())
    assert cost > 0 and total == pytest.approx(cost)
    assert [t["member"] for t in recorded if t.get("status") == 200] == ["alpha/checker"]


def test_tokens_per_minute_limit(gateway: GatewayFactory, store_url: str, tmp_path: Path) -> None:
    # The fake answers with 11 + 7 tokens; the second call finds the minute's 18 ≥ 10 used.
    with gateway(store_url, **{"loops.alpha.rate_limits": {"tokens_per_minute": 10}}) as (
        url,
        _,
        _,
    ):
        c = client(url)
        c.chat.completions.create(model="main", messages=MSG)
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="main", messages=[{"role": "user", "content": "2"}])
    assert info.value.code == "rate_limited" and "10 tokens" in info.value.message
    assert info.value.response.headers["retry-after"].isdigit()
