"""The chat-to-Responses rewrite of a whole answer, driven as the gateway drives it: the
``send`` :class:`gateway.responses.endpoint.AsResponse` is handed the chat path's ASGI
messages (here written by the test, as :func:`gateway.asgi.send_response` writes them) and
what it sends on is read back and validated with the openai SDK's own ``Response`` type."""

from __future__ import annotations

import re
from typing import Any

import orjson
from openai.types.responses import Response

from gateway.responses.endpoint import AsResponse
from gateway.responses.reply import from_completion, new_id, usage
from gateway.responses.request import check

RAW = orjson.dumps({"model": "main", "input": "hi", "max_output_tokens": 64})
ECHO = check(orjson.loads(RAW), RAW).echo
ANSWER = orjson.dumps(
    {
        "choices": [
            {
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2},
    }
)
HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-fleet-cost-usd", b"0.00000700"),
    (b"content-length", str(len(ANSWER)).encode()),
]


async def drive(status: int, parts: list[bytes]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def out(message: dict[str, Any]) -> None:
        sent.append(message)

    send = AsResponse(out, "main", ECHO)
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    for i, part in enumerate(parts):
        await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})
    return sent


async def test_an_answer_in_several_parts_is_one_response_with_its_own_length() -> None:
    sent = await drive(200, [ANSWER[:10], ANSWER[10:30], ANSWER[30:]])
    start, body = sent
    response = Response.model_validate(orjson.loads(body["body"]))
    assert response.output_text == "ok"
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.total_tokens == 14
    assert orjson.loads(body["body"])["fleet"] == {"cost_usd": 7e-06}
    lengths = [v for k, v in start["headers"] if k == b"content-length"]
    assert lengths == [str(len(body["body"])).encode()]
    assert (b"x-fleet-cost-usd", b"0.00000700") in start["headers"]


async def test_an_error_or_a_body_that_is_not_json_goes_out_as_it_came() -> None:
    error = b'{"error": {"message": "no"}}'
    sent = await drive(502, [error])
    assert sent[0]["status"] == 502 and sent[0]["headers"] == HEADERS
    assert sent[1]["body"] == error
    sent = await drive(200, [b"not json"])
    assert sent[1]["body"] == b"not json"
    assert (b"content-length", b"8") in sent[0]["headers"]


def test_ids_are_48_hex_digits_and_usage_reads_only_objects() -> None:
    ids = {new_id("resp") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"resp_[0-9a-f]{48}", i) for i in ids)
    odd = usage({"prompt_tokens": 3, "completion_tokens": True, "prompt_tokens_details": "x"})
    assert odd["input_tokens"] == 3 and odd["output_tokens"] == 0
    assert odd["input_tokens_details"]["cached_tokens"] == 0
    reply = from_completion({"choices": [{"message": {"tool_calls": 5}}]}, "main", ECHO, None)
    assert reply["output"] == [] and reply["status"] == "completed"
