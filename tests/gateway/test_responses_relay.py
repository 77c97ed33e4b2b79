"""Streamed ``/v1/responses`` relayed to a provider that speaks Responses, with the official
openai SDK over loopback against a scripted provider that streams Responses SSE events
(its output is scripted, not a model's).

Each event the gateway relays is validated with the SDK's own event union, and the SDK's
helpers (``responses.stream`` and ``responses.create(stream=True)``) read the same stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.gateway.conftest import TOKENS
from tests.gateway.fakes import PROVIDER_KEY, ServerThread
from tests.gateway.test_responses import DIRECT, Scripted, Turn, client, gateway, traces
from tests.gateway.test_responses_stream import events

__all__ = ["gateway"]

# Two virtual models on the Responses provider: "direct" falls back to "direct2".
CHAIN = {
    **DIRECT,
    "models.direct": {"targets": [{"provider": "p3", "model": "r-1"}], "fallback": ["direct2"]},
    "models.direct2": {"targets": [{"provider": "p3", "model": "r-2"}]},
    "pricing.p3/r-2": {"input": 1.0, "output": 1.0},
    "loops.alpha.models": ["backup", "main", "split", "direct", "direct2"],
}


@dataclass
class Stream(Turn):
    """A scripted Responses stream: ``garbage`` adds a line that is not JSON and an event
    of a type nobody knows; ``no_usage`` leaves the usage out."""

    garbage: bool = False
    no_usage: bool = False
    whole: bool = False  # answer with a whole response object, not a stream
    pieces: list[str] | None = None  # the text deltas as given, rather than word by word
    # The provider stops after this many events until ``gate`` is set (or 5 s went by).
    pause_after: int | None = None
    gate: threading.Event | None = None
    waited: list[bool] = field(default_factory=list)


class ResponsesSSE(Scripted):
    """The scripted provider, with ``/responses`` streamed as Responses events."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/responses"):
            return await super().__call__(scope, receive, send)
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        req = orjson.loads(body)
        self.seen.append((scope["path"], req))
        queue = self.turns.get(req["model"])
        turn = queue.popleft() if queue else Stream()
        if getattr(turn, "whole", False):  # a provider that ignores ``stream``
            self.seen.pop()  # the chat provider takes the same turn and records the call
            self.turns[req["model"]].appendleft(turn)
            await super().__call__(scope, _replay(body), send)
            return
        if turn.status != 200:
            error = orjson.dumps({"error": {"message": f"scripted {turn.status}"}})
            await send(
                {
                    "type": "http.response.start",
                    "status": turn.status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": error})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for i, block in enumerate(script_events(req, turn)):
            if turn.break_after is not None and i >= turn.break_after:
                return  # the connection ends mid-stream (no terminal chunk)
            await send({"type": "http.response.body", "body": block, "more_body": True})
            if i + 1 == getattr(turn, "pause_after", None) and turn.gate is not None:
                turn.waited.append(await asyncio.to_thread(turn.gate.wait, 5.0))
        await send({"type": "http.response.body", "body": b""})


def _replay(body: bytes) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body}

    return receive


def script_events(req: dict[str, Any], turn: Turn) -> list[bytes]:
    """The provider's events for one turn: text deltas word by word, then each call."""
    seq = iter(range(1000))
    resp: dict[str, Any] = {
        "id": "resp_up",
        "object": "response",
        "created_at": 1,
        "status": "in_progress",
        "model": req["model"],
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": dict(resp)},
        {"type": "response.in_progress", "response": dict(resp)},
    ]
    items: list[dict[str, Any]] = []
    if turn.text:
        msg = {"id": "msg_up", "type": "message", "role": "assistant", "status": "in_progress"}
        where = {"item_id": "msg_up", "output_index": 0, "content_index": 0}
        out.append(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**msg, "content": []},
            }
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        out.append({"type": "response.content_part.added", **where, "part": part})
        words = turn.text.split(" ")
        pieces = getattr(turn, "pieces", None) or [
            w + (" " if k < len(words) - 1 else "") for k, w in enumerate(words)
        ]
        for piece in pieces:
            out.append(
                {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            )
        done = {**part, "text": turn.text}
        out.append(
            {"type": "response.output_text.done", **where, "text": turn.text, "logprobs": []}
        )
        out.append({"type": "response.content_part.done", **where, "part": done})
        item = {**msg, "status": "completed", "content": [done]}
        out.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        items.append(item)
    for call_id, name, args in turn.calls:
        index = len(items)
        fc = {"id": f"fc_{index}", "type": "function_call", "call_id": call_id, "name": name}
        out.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**fc, "arguments": "", "status": "in_progress"},
            }
        )
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            out.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": fc["id"],
                    "output_index": index,
                    "delta": piece,
                }
            )
        out.append(
            {
                "type": "response.function_call_arguments.done",
                "item_id": fc["id"],
                "output_index": index,
                "name": name,
                "arguments": args,
            }
        )
        item = {**fc, "arguments": args, "status": "completed"}
        out.append({"type": "response.output_item.done", "output_index": index, "item": item})
        items.append(item)
    final = {**resp, "status": "completed", "output": items}
    if not getattr(turn, "no_usage", False):
        final["usage"] = {
            "input_tokens": turn.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": turn.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.prompt_tokens + turn.completion_tokens,
        }
    out.append({"type": "response.completed", "response": final})
    blocks = []
    for event in out:
        event["sequence_number"] = next(seq)
        blocks.append(
            b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
        )
    if getattr(turn, "garbage", False):
        blocks.insert(2, b"data: {not json\n\n")
        blocks.insert(3, b'event: x.private\ndata: {"type": "x.private", "secret": "?"}\n\n')
    return blocks


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Scripted, str]]:
    import os

    os.environ["TEST_PROVIDER_KEY"] = PROVIDER_KEY
    fake = ResponsesSSE()
    with ServerThread(fake) as server:
        yield fake, server.url


@pytest.fixture
def scripted(provider: tuple[Scripted, str]) -> Scripted:
    provider[0].turns.clear()
    provider[0].seen.clear()
    return provider[0]


def cost(tokens_in: int, tokens_out: int) -> float:
    return tokens_in * 2.0 / 1e6 + tokens_out * 4.0 / 1e6  # pricing of p3/r-1


def reserved(app: Any) -> float:
    """What the gateway still holds reserved (in memory, per budget key)."""
    return float(sum(app.store._reserved.values()))


def test_text_relayed_priced_and_settled(gateway: Any, scripted: ResponsesSSE) -> None:
    scripted.script(
        "r-1", Stream(text="Relayed word by word.", prompt_tokens=40, completion_tokens=6)
    )
    with gateway(**CHAIN) as (url, app):
        got = events(url, {"model": "direct", "input": "Hi", "max_output_tokens": 300})
        (trace,) = traces(app)
    kinds = [e.type for e in got]
    assert kinds.count("response.output_text.delta") == 4
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert all(e.response.model == "direct" for e in got if hasattr(e, "response"))
    final = got[-1].response
    assert final.output_text == "Relayed word by word."
    assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 6)
    path, sent = scripted.seen[-1]
    assert path == "/v1/responses"
    assert (sent["stream"], sent["max_output_tokens"], sent["store"], sent["model"]) == (
        True,
        300,
        False,
        "r-1",
    )
    assert (trace["api"], trace["target"], trace["tokens_in"], trace["tokens_out"]) == (
        "responses",
        "p3/r-1",
        40,
        6,
    )
    assert trace["cost_usd"] == pytest.approx(cost(40, 6))
    assert final.model_extra["fleet"]["cost_usd"] == pytest.approx(cost(40, 6))
    assert trace.get("error") is None and trace["attempts"][0]["ttfb_ms"] >= 0


def test_events_go_out_as_they_come(gateway: Any, scripted: ResponsesSSE) -> None:
    # The provider holds the rest of its stream until the caller has read the first delta:
    # a relay that waited for the whole answer would make it wait out its 5 s.
    turn = Stream(text="First then the rest.", pause_after=5, gate=threading.Event())
    scripted.script("r-1", turn)
    kinds = []
    headers = {"authorization": f"Bearer {TOKENS['alpha']}"}
    body = {"model": "direct", "input": "Hi", "stream": True}
    with (
        gateway(**CHAIN) as (url, _),
        httpx.Client(base_url=url, headers=headers) as http,
        http.stream("POST", "/v1/responses", json=body) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("event: "):
                kinds.append(line[7:])
                if line == "event: response.output_text.delta":
                    assert turn.gate is not None
                    turn.gate.set()
    assert turn.waited == [True]
    assert kinds[-1] == "response.completed"


def test_sdk_helpers_read_text_and_function_calls(gateway: Any, scripted: ResponsesSSE) -> None:
    args = '{"city": "Oslo"}'
    scripted.script("r-1", Stream(text="Checking.", calls=[("call_1", "get_weather", args)]))
    scripted.script("r-1", Stream(text="Sunny in Oslo."))
    with gateway(**CHAIN) as (url, app):
        c = client(url)
        with c.responses.stream(model="direct", input="Weather in Oslo?") as stream:
            deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
            first = stream.get_final_response()
        texts = [
            e.delta
            for e in c.responses.create(model="direct", input="And now?", stream=True)
            if e.type == "response.output_text.delta"
        ]
        recorded = traces(app)
    call = next(i for i in first.output if i.type == "function_call")
    assert (call.name, call.arguments, call.call_id) == ("get_weather", args, "call_1")
    assert "".join(deltas) == args and first.output_text == "Checking."
    assert "".join(texts) == "Sunny in Oslo."
    assert [t["status"] for t in recorded] == [200, 200]
    assert all(t["cost_usd"] > 0 for t in recorded)


def test_a_secret_spelled_across_deltas_is_redacted(gateway: Any, scripted: ResponsesSSE) -> None:
    # The provider key the gateway injects, spelled by the model over two deltas.
    pieces = ["The key is ", PROVIDER_KEY[:9], PROVIDER_KEY[9:], " ok"]
    scripted.script("r-1", Stream(text="".join(pieces), pieces=pieces))
    with gateway(**CHAIN) as (url, _):
        got = events(url, {"model": "direct", "input": "Tell me."})
    spelled = "".join(e.delta for e in got if e.type == "response.output_text.delta")
    assert PROVIDER_KEY not in spelled and "[REDACTED:credential]" in spelled
    assert PROVIDER_KEY not in got[-1].response.output_text


def test_fallback_when_the_first_target_answers_503(gateway: Any, scripted: ResponsesSSE) -> None:
    scripted.script("r-1", Stream(status=503), Stream(status=503))
    scripted.script("r-2", Stream(text="From the fallback.", prompt_tokens=10, completion_tokens=3))
    with gateway(**CHAIN) as (url, app):
        with client(url).responses.stream(model="direct", input="Hi") as stream:
            final = stream.get_final_response()
        (trace,) = traces(app)
    assert (final.output_text, final.model) == ("From the fallback.", "direct")
    assert [(a["target"], a["status"]) for a in trace["attempts"]][-1] == ("p3/r-2", 200)
    assert trace["attempts"][0]["status"] == 503
    assert (trace["served_by"], trace["cost_usd"]) == ("direct2", pytest.approx(13 / 1e6))


def test_fallback_when_the_first_target_answers_no_stream(
    gateway: Any, scripted: ResponsesSSE
) -> None:
    scripted.script("r-1", Stream(whole=True), Stream(whole=True))
    scripted.script("r-2", Stream(text="A real stream."))
    with gateway(**CHAIN) as (url, app):
        with client(url).responses.stream(model="direct", input="Hi") as stream:
            final = stream.get_final_response()
        (trace,) = traces(app)
    assert final.output_text == "A real stream."
    *refused, served = trace["attempts"]
    assert [a["target"] for a in refused] == ["p3/r-1"] * len(refused)
    assert all("not a stream" in a["error"] for a in refused)
    assert (served["target"], served["status"]) == ("p3/r-2", 200)


def test_cut_stream_settles_what_was_used_and_fails(gateway: Any, scripted: ResponsesSSE) -> None:
    scripted.script("r-1", Stream(text="one two three four five six seven eight", break_after=6))
    with gateway(**CHAIN) as (url, app):
        got = events(url, {"model": "direct", "input": "Count."})
        (trace,) = traces(app)
        held = reserved(app)
    assert [e.type for e in got][-2:] == ["error", "response.failed"]
    assert got[-2].code == "stream_broken" and got[-1].response.status == "failed"
    relayed = "".join(e.delta for e in got if e.type == "response.output_text.delta")
    assert relayed == "one two "
    assert (trace["error"], trace["tokens_out"]) == ("stream_broken", len(relayed) // 4)
    assert trace["cost_usd"] > 0 and held == 0
    assert got[-1].response.model_extra["fleet"]["cost_usd"] == pytest.approx(trace["cost_usd"])


def test_events_that_cannot_be_read_are_dropped(gateway: Any, scripted: ResponsesSSE) -> None:
    scripted.script("r-1", Stream(text="Still fine.", garbage=True, no_usage=True))
    with gateway(**CHAIN) as (url, app):
        got = events(url, {"model": "direct", "input": "Hi"})
        (trace,) = traces(app)
    assert got[-1].type == "response.completed" and got[-1].response.output_text == "Still fine."
    assert trace["dropped_events"] == 2
    assert trace["tokens_out"] == len("Still fine.") // 4 and trace["tokens_in"] > 0


def test_output_guardrail_block_stops_the_relay(gateway: Any, scripted: ResponsesSSE) -> None:
    rules = {"guardrails.llm_output": [{"detector": "secrets", "action": "block"}]}
    scripted.script("r-1", Stream(text="Here: AKIAIOSFODNN7EXAMPLE is the key"))
    with gateway(**CHAIN, **rules) as (url, app):
        got = events(url, {"model": "direct", "input": "Hi"})
        (trace,) = traces(app)
    assert [e.type for e in got][-2:] == ["error", "response.failed"]
    assert got[-2].code == "guardrail_blocked"
    assert "AKIAIOSFODNN7EXAMPLE" not in "".join(getattr(e, "delta", "") for e in got)
    assert trace["error"] == "guardrail_blocked"


def test_non_retryable_status_is_passed_back(gateway: Any, scripted: ResponsesSSE) -> None:
    scripted.script("r-1", Stream(status=400))
    with gateway(**CHAIN) as (url, app), pytest.raises(openai.BadRequestError):
        client(url).responses.create(model="direct", input="Hi", stream=True)
    (trace,) = traces(app)
    assert (trace["status"], trace["cost_usd"]) == (400, 0.0)
