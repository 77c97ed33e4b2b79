"""A chat completion, as the Responses API object the caller asked for.

A provider that speaks only chat completions answers in choices and
messages; the caller of ``/v1/responses`` parses a ``response`` object with
output items (an assistant ``message`` with ``output_text`` parts, one
``function_call`` item per tool call) and a usage block in input/output
tokens. This module writes that object: for a whole answer
(:func:`from_completion`) and, for a stream, the skeleton each event carries
(:func:`skeleton`) and the usage (:func:`usage`). ``model`` is the virtual
model the caller named, not the provider's model: the caller never learns
which target served it except from the ``x-fleet-target`` header. The cost of
the call rides along as ``fleet.cost_usd`` (the openai SDK keeps unknown
fields on its models).
"""

from __future__ import annotations

import time
from random import getrandbits
from typing import Any

# finish_reason of a chat choice -> why the response is incomplete (None: it is complete).
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's shape (``resp_``, ``msg_``, ``fc_`` and 48 hex digits)."""
    # bytes.hex is a third of the cost of formatting the integer as 048x: same digits.
    return f"{prefix}_{getrandbits(192).to_bytes(24, 'big').hex()}"


def skeleton(rid: str, model: str, echo: dict[str, Any], status: str) -> dict[str, Any]:
    """The response object without output and usage (what ``response.created`` carries)."""
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "usage": None,
        "store": False,
        "previous_response_id": None,
        "truncation": "disabled",
        **echo,
    }


def usage(block: Any) -> dict[str, Any]:
    """A chat usage block in the Responses shape (zeros for what the provider left out)."""
    if not isinstance(block, dict):
        block = {}
    prompt = _count(block.get("prompt_tokens"))
    completion = _count(block.get("completion_tokens"))
    details = block.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    details = block.get("completion_tokens_details")
    reasoning = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def _count(value: Any) -> int:
    # type() rather than isinstance: a JSON count is an int, and a bool is not one.
    return value if type(value) is int and value >= 0 else 0


def message_item(
    item_id: str, text: str, status: str, refusal: str | None = None
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append(text_part(text))
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def finish(response: dict[str, Any], reason: Any) -> None:
    """Mark ``response`` completed, or incomplete with the reason a chat choice stopped."""
    why = INCOMPLETE.get(reason) if isinstance(reason, str) else None
    response["status"] = "incomplete" if why else "completed"
    response["incomplete_details"] = {"reason": why} if why else None


def from_completion(
    data: dict[str, Any], model: str, echo: dict[str, Any], cost: float | None
) -> dict[str, Any]:
    """The Response object for a whole chat completion (its first choice: Responses has one)."""
    choices = data.get("choices")
    choice: dict[str, Any] = {}
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
    reason = choice.get("finish_reason")
    why = INCOMPLETE.get(reason) if isinstance(reason, str) else None
    response = skeleton(new_id("resp"), model, echo, "incomplete" if why else "completed")
    if why:
        response["incomplete_details"] = {"reason": why}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    refusal = message.get("refusal")
    if not isinstance(refusal, str):
        refusal = None
    output: list[dict[str, Any]] = []
    if text or refusal:
        output.append(message_item(new_id("msg"), text, "completed", refusal))
    calls = message.get("tool_calls")
    for tc in calls if isinstance(calls, list) else ():
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict):
            continue
        args = fn.get("arguments")
        output.append(
            call_item(
                new_id("fc"),
                str(tc.get("id") or new_id("call")),
                str(fn.get("name") or ""),
                args if isinstance(args, str) else "{}",
                "completed",
            )
        )
    response["output"] = output
    response["usage"] = usage(data.get("usage"))
    if cost is not None:
        response["fleet"] = {"cost_usd": round(cost, 10)}
    return response
