"""The LLM proxy through the official openai SDK: identity, routing, retries, fallback, streaming."""

from __future__ import annotations

import asyncio
import re

import openai
import pytest

from tests.gateway.conftest import TOKENS, GatewayFactory
from tests.gateway.fakes import PROVIDER_KEY, FakeProvider, Step


async def read_traces(url: str) -> list[dict[str, object]]:
    from gateway.store import open_store

    store = open_store(url)
    try:
        return await store.query_traces()
    finally:
        await store.close()


def client(url: str, token: str = TOKENS["alpha"], **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0, **kw)  # type: ignore[arg-type]


MSG = [{"role": "user", "content": "Summarise the failing build."}]


def test_completion_sync(gateway: GatewayFactory, fake: FakeProvider) -> None:
    with gateway() as (url, _app, _):
        raw = client(url).chat.completions.with_raw_response.create(model="main", messages=MSG)
        completion = raw.parse()
        assert completion.choices[0].message.content == "Hello from the fake provider."
        assert (
            raw.headers["x-fleet-target"] == "p1/m-main"
            and raw.headers["x-fleet-virtual-model"] == "main"
        )
        assert float(raw.headers["x-fleet-cost-usd"]) == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    assert fake.seen[0]["model"] == "m-main" and fake.auth[0] == f"Bearer {PROVIDER_KEY}"


def test_models_lists_grants(gateway: GatewayFactory) -> None:
    with gateway() as (url, _, _):
        assert sorted(m.id for m in client(url).models.list()) == ["backup", "main", "split"]
        assert [m.id for m in client(url, TOKENS["beta"]).models.list()] == ["backup"]


def test_identity_errors(gateway: GatewayFactory) -> None:
    with gateway() as (url, _, _):
        with pytest.raises(openai.AuthenticationError) as info:
            client(url, "not-a-token").chat.completions.create(model="main", messages=MSG)
        assert info.value.code == "invalid_token"
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client(url, TOKENS["beta"]).chat.completions.create(model="main", messages=MSG)
        assert (
            denied.value.code == "model_not_granted" and "may use: backup" in denied.value.message
        )
        with pytest.raises(openai.NotFoundError) as missing:
            client(url).chat.completions.create(model="gpt-4", messages=MSG)
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.PermissionDeniedError):
            client(url, TOKENS["alpha/checker"]).chat.completions.create(model="main", messages=MSG)
        assert (
            client(url, TOKENS["alpha/checker"])
            .chat.completions.create(model="backup", messages=MSG)
            .choices
        )


def test_retry_then_success(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(status=503))
    with gateway() as (url, app, _):
        raw = client(url).chat.completions.with_raw_response.create(
            model="main",
            messages=MSG,
            extra_headers={"x-fleet-run-id": "run-1", "x-fleet-step": "3"},
        )
        assert (
            raw.headers["x-fleet-attempts"] == "2" and raw.headers["x-fleet-target"] == "p1/m-main"
        )
        store_path = app.store.path  # type: ignore[attr-defined]
    (trace,) = asyncio.run(read_traces(f"sqlite:{store_path}"))
    assert [a["status"] for a in trace["attempts"]] == [503, 200]
    assert trace["attempts"][0]["error"] == "upstream status 503" and trace["retries"] == 1
    assert (
        trace["loop"],
        trace["run"],
        trace["step"],
        trace["tokens_in"],
        trace["tokens_out"],
    ) == ("alpha", "run-1", 3, 11, 7)


def test_fallback_chain(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(status=500), Step(status=429))
    with gateway() as (url, _, _):
        raw = client(url).chat.completions.with_raw_response.create(model="main", messages=MSG)
        assert (
            raw.headers["x-fleet-virtual-model"] == "backup"
            and raw.headers["x-fleet-target"] == "p2/m-backup"
        )
        assert raw.headers["x-fleet-attempts"] == "3"


def test_timeout_falls_back(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(delay=3.0), Step(delay=3.0))
    with gateway() as (url, _, _):
        raw = client(url, timeout=20).chat.completions.with_raw_response.create(
            model="main", messages=MSG
        )
        assert raw.headers["x-fleet-virtual-model"] == "backup"


def test_all_fail_is_502_with_reasons(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(status=500), Step(status=500))
    fake.script("m-backup", Step(status=503), Step(status=503))
    with gateway() as (url, _, _):
        with pytest.raises(openai.APIStatusError) as info:
            client(url).chat.completions.create(model="main", messages=MSG)
        assert (
            info.value.status_code == 502 and "p1/m-main: upstream status 500" in info.value.message
        )


def test_non_retryable_upstream_error_passes_through(
    gateway: GatewayFactory, fake: FakeProvider
) -> None:
    fake.script("m-main", Step(status=400))
    with gateway() as (url, _, _), pytest.raises(openai.BadRequestError):
        client(url).chat.completions.create(model="main", messages=MSG)
    assert len(fake.seen) == 1


def test_weighted_targets(gateway: GatewayFactory, fake: FakeProvider) -> None:
    with gateway() as (url, _, _):
        c = client(url)
        for _ in range(40):
            c.chat.completions.create(
                model="split",
                messages=[{"role": "user", "content": f"n{_}"}],
                extra_headers={"x-fleet-cache": "off"},
            )
    share = sum(1 for r in fake.seen if r["model"] == "m-a") / len(fake.seen)
    assert 0.5 < share < 0.95


def test_streaming_async(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(content="one two three four five six", chunks=3))

    async def run(url: str) -> tuple[str, str | None]:
        c = openai.AsyncOpenAI(base_url=url + "/v1", api_key=TOKENS["alpha"], max_retries=0)
        stream = await c.chat.completions.create(model="main", messages=MSG, stream=True)
        text = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        await c.close()
        return text, None

    with gateway() as (url, _, _):
        text, _ = asyncio.run(run(url))
    assert text.split() == ["one", "two", "three", "four", "five", "six"]
    assert fake.seen[0]["stream_options"] == {"include_usage": True}


def test_stream_falls_back_before_first_byte(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(status=503), Step(status=503))
    with (
        gateway() as (url, _, _),
        client(url).chat.completions.with_streaming_response.create(
            model="main", messages=MSG, stream=True
        ) as resp,
    ):
        assert resp.headers["x-fleet-virtual-model"] == "backup"
        chunks = list(resp.parse())
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        == "Hello from the fake provider."
    )


def test_broken_stream_does_not_fall_back(gateway: GatewayFactory, fake: FakeProvider) -> None:
    fake.script("m-main", Step(content="a b c d e f", chunks=6, break_after=2))
    with gateway() as (url, _, _):
        received = []
        with pytest.raises(openai.APIError):
            for chunk in client(url).chat.completions.create(
                model="main", messages=MSG, stream=True
            ):
                received.append(chunk)
    assert received and len(fake.seen) == 1


def test_health_ready_metrics(gateway: GatewayFactory) -> None:
    import httpx

    with gateway() as (url, _, _):
        client(url).chat.completions.create(model="main", messages=MSG)
        assert httpx.get(url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(url + "/readyz").json()["loops"] == 2
        text = httpx.get(url + "/metrics").text
        assert 'fleet_gateway_requests_total{loop="alpha",model="main",outcome="ok"} 1' in text
        assert (
            "fleet_gateway_request_seconds_bucket" in text
            and "fleet_gateway_cost_usd_total" in text
        )
        # The file store's journal: one settlement, folded or about to be.
        assert re.search(r"^fleet_gateway_journal_unapplied_records [01](\.0)?$", text, re.M)
        bad = httpx.post(
            url + "/v1/chat/completions",
            content=b"{nope",
            headers={"authorization": "Bearer tok-alpha"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        assert httpx.get(url + "/nope").json()["error"]["code"] == "not_found"
