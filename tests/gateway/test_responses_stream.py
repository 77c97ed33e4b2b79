"""Streamed ``/v1/responses`` with the official openai SDK over loopback: the chat stream of
a scripted provider rewritten as the Responses event stream.

Each event the gateway sends is validated strictly with the SDK's own event union
(``ResponseStreamEvent``), and the SDK's stream helpers (``responses.stream`` and
``responses.create(stream=True)``) parse the same stream into the final response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.responses.stream import EventStream
from tests.gateway.conftest import TOKENS
from tests.gateway.test_responses import (
    WEATHER,
    Scripted,
    Turn,
    client,
    gateway,
    provider,
    scripted,
    strict,
    traces,
)

__all__ = ["gateway", "provider", "scripted"]  # the fixtures, shared with test_responses

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def events(url: str, body: dict[str, Any]) -> list[Any]:
    """The raw SSE events of one streamed call, each validated by the SDK's event types."""
    out = []
    headers = {"authorization": f"Bearer {TOKENS['alpha']}"}
    with (
        httpx.Client(base_url=url, headers=headers) as http,
        http.stream("POST", "/v1/responses", json={**body, "stream": True}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
                assert data["type"] == kind
                out.append(EVENTS.validate_python(data))
    assert [e.sequence_number for e in out] == list(range(len(out)))
    return out


def test_text_stream_event_sequence(gateway: Any, scripted: Scripted) -> None:
    scripted.script(
        "m-main", Turn(text="One two three four.", prompt_tokens=12, completion_tokens=4)
    )
    with gateway() as (url, app):
        got = events(url, {"model": "main", "instructions": "Be brief.", "input": "Count."})
        (trace,) = traces(app)
    kinds = [e.type for e in got]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in got if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "One two three four."
    done = got[-1].response
    assert (done.status, done.model, done.output_text) == (
        "completed",
        "main",
        "One two three four.",
    )
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.total_tokens) == (
        12,
        4,
        16,
    )
    cost = 12 * 1.0 / 1e6 + 4 * 2.0 / 1e6
    assert done.model_extra["fleet"]["cost_usd"] == pytest.approx(cost)
    assert got[0].response.status == "in_progress" and got[0].response.output == []
    # Settled before the last event went out: the trace holds the same figures.
    assert (trace["api"], trace["stream"], trace["tokens_in"], trace["tokens_out"]) == (
        "responses",
        True,
        12,
        4,
    )
    assert trace["cost_usd"] == pytest.approx(cost)
    sent = scripted.seen[-1][1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_sdk_stream_helpers(gateway: Any, scripted: Scripted) -> None:
    scripted.script("m-main", Turn(text="Streamed by the helper."), Turn(text="And by create."))
    with gateway() as (url, _):
        c = client(url)
        with c.responses.stream(model="main", input="Hi") as s:
            texts = [e.delta for e in s if e.type == "response.output_text.delta"]
            final = s.get_final_response()
        assert "".join(texts) == final.output_text == "Streamed by the helper."
        assert final.usage is not None and final.usage.output_tokens == 9
        seen = list(c.responses.create(model="main", input="Hi", stream=True))
    assert seen[-1].type == "response.completed"
    assert seen[-1].response.output_text == "And by create."


def test_streamed_function_call(gateway: Any, scripted: Scripted) -> None:
    scripted.script(
        "m-main",
        Turn(text="Checking.", calls=[("call_9", "get_weather", '{"city": "Rome"}')]),
        Turn(text="", calls=[("call_10", "get_weather", '{"city": "Bari"}')]),
    )
    with gateway() as (url, _):
        got = events(url, {"model": "main", "input": "Weather in Rome?", "tools": [WEATHER]})
        with client(url).responses.stream(model="main", input="Bari?", tools=[WEATHER]) as s:  # type: ignore[list-item]
            final = s.get_final_response()
    kinds = [e.type for e in got]
    # The text item closes before the call item opens.
    assert kinds.index("response.output_item.done") < kinds.index(
        "response.function_call_arguments.delta"
    )
    args = [e.delta for e in got if e.type == "response.function_call_arguments.delta"]
    assert "".join(args) == '{"city": "Rome"}'
    (done,) = [e for e in got if e.type == "response.function_call_arguments.done"]
    assert (done.arguments, done.output_index) == ('{"city": "Rome"}', 1)
    message, call = got[-1].response.output
    assert (message.type, call.type, call.call_id, call.name) == (
        "message",
        "function_call",
        "call_9",
        "get_weather",
    )
    (streamed,) = final.output
    assert streamed.type == "function_call"
    assert (streamed.call_id, streamed.arguments) == ("call_10", '{"city": "Bari"}')


def test_broken_stream_fails_in_band(gateway: Any, scripted: Scripted) -> None:
    scripted.script("m-main", Turn(text="This answer breaks off midway", break_after=2))
    with gateway() as (url, app):
        got = events(url, {"model": "main", "input": "Hi"})
        (trace,) = traces(app)
    assert [e.type for e in got[-2:]] == ["error", "response.failed"]
    assert got[-2].code == "stream_broken"
    assert got[-1].response.status == "failed" and got[-1].response.error is not None
    assert trace["error"].startswith("stream")


def test_cut_stream_is_incomplete(gateway: Any, scripted: Scripted) -> None:
    scripted.script("m-main", Turn(text="Cut short", finish="length"))
    with gateway() as (url, _):
        got = events(url, {"model": "main", "input": "Hi", "max_output_tokens": 16})
    assert got[-1].type == "response.incomplete"
    assert got[-1].response.incomplete_details.reason == "max_output_tokens"
    assert scripted.seen[-1][1]["max_tokens"] == 16


def test_agents_sdk_agent_on_its_default_responses_model(gateway: Any, scripted: Scripted) -> None:
    """An Agents SDK ``Agent`` on the SDK's default model (Responses), whole and streamed:
    it calls a function tool, gets its output back, and answers."""
    from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled
    from agents.models.openai_provider import OpenAIProvider

    set_tracing_disabled(True)
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    args = '{"city": "Oslo"}'
    scripted.script(
        "m-main",
        Turn(text="", calls=[("call_a", "get_weather", args)]),
        Turn(text="It is sunny in Oslo."),
        Turn(text="", calls=[("call_b", "get_weather", args)]),
        Turn(text="Still sunny in Oslo."),
    )

    async def both(url: str) -> tuple[Any, Any]:
        sdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key=TOKENS["alpha"], max_retries=0)
        config = RunConfig(model_provider=OpenAIProvider(openai_client=sdk, use_responses=True))
        agent = Agent(
            name="weather", instructions="Answer briefly.", model="main", tools=[get_weather]
        )
        whole = await Runner.run(agent, "Weather in Oslo?", run_config=config)
        run = Runner.run_streamed(agent, "And now?", run_config=config)
        async for _ in run.stream_events():
            pass
        await sdk.close()
        return whole, run

    with gateway() as (url, app):
        whole, run = asyncio.run(both(url))
        recorded = traces(app)
    assert whole.final_output == "It is sunny in Oslo."
    assert run.final_output == "Still sunny in Oslo."
    assert calls == ["Oslo", "Oslo"]
    # The tool's output went back to the model as a tool message of the same call.
    _, second = scripted.seen[1]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_a",
        "content": "sunny in Oslo",
    }
    assert [t["api"] for t in recorded] == ["responses"] * 4
    assert all(t["status"] == 200 and t["cost_usd"] > 0 for t in recorded)


def test_output_guardrail_stops_the_stream(gateway: Any, scripted: Scripted) -> None:
    rules = {"guardrails.llm_output": [{"detector": "secrets", "action": "block"}]}
    scripted.script("m-main", Turn(text="The key is AKIAIOSFODNN7EXAMPLE and more text follows"))
    with gateway(**rules) as (url, app):
        got = events(url, {"model": "main", "input": "Key?"})
        (trace,) = traces(app)
    assert [e.type for e in got[-2:]] == ["error", "response.failed"]
    assert got[-2].code == "guardrail_blocked"
    assert "AKIAIOSFODNN7EXAMPLE" not in "".join(
        e.delta for e in got if e.type == "response.output_text.delta"
    )
    assert trace["error"] == "guardrail_blocked"


def test_refusal_whole_and_streamed(gateway: Any, scripted: Scripted) -> None:
    scripted.script(
        "m-main", Turn(text="", refusal="I cannot help with that."), Turn(text="", refusal="No.")
    )
    with gateway() as (url, _):
        whole = client(url).responses.with_raw_response.create(model="main", input="Do harm.")
        got = events(url, {"model": "main", "input": "Do harm."})
    (message,) = strict(whole).output
    assert message.type == "message"
    assert [(p.type, getattr(p, "refusal", None)) for p in message.content] == [
        ("refusal", "I cannot help with that.")
    ]
    kinds = [e.type for e in got]
    assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds
    (done,) = got[-1].response.output
    assert done.content[0].type == "refusal" and done.content[0].refusal == "No. "


CHUNKS = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [
                b'data: {"choices":[{"index":0,"delta":{"content":"hi "}}]}\n\n',
                b'data: {"choices":[{"index":0,"delta":{"refusal":"no"}}]}\n\n',
                b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c",'
                b'"function":{"name":"f","arguments":"{\\"a\\""}}]}}]}\n\n',
                b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":"x","function":5}]}}]}\n',
                b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n',
                b'data: {"choices":[],"usage":{"prompt_tokens":"x"},"fleet":{"cost_usd":"y"}}\n\n',
                b'data: {"error":{"code":5}}\n\n',
                b"data: [1, 2]\n\n",
                b': fleet {"cost_usd": null}\n\n',
                b"data: [DONE]\n\n",
                b'data: {"choices": [7, {"delta": []}]}\n',
            ]
        ),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(CHUNKS)
def test_any_chat_stream_becomes_events_the_sdk_reads(chunks: list[bytes]) -> None:
    """Whatever a provider's stream holds, the rewrite sends Responses events the SDK's types
    accept, numbered in order, and ends with exactly one terminal event."""
    sent: list[dict[str, Any]] = []

    async def out(message: dict[str, Any]) -> None:
        sent.append(message)

    async def feed() -> None:
        es = EventStream(
            out, "main", {"tools": [], "tool_choice": "auto", "parallel_tool_calls": True}
        )
        await es(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for chunk in chunks:
            await es({"type": "http.response.body", "body": chunk, "more_body": True})
        await es({"type": "http.response.body", "body": b"", "more_body": False})

    asyncio.run(feed())
    assert sent[-1]["more_body"] is False
    body = b"".join(m.get("body", b"") for m in sent[1:])
    parsed = [
        EVENTS.validate_python(orjson.loads(line[6:]))
        for line in body.split(b"\n")
        if line.startswith(b"data: ")
    ]
    assert [e.sequence_number for e in parsed] == list(range(len(parsed)))
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    assert [e.type for e in parsed].count("error") <= 1
    assert sum(e.type in terminal for e in parsed) == 1 and parsed[-1].type in terminal
