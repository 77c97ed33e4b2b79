"""What a chat completion request must be before the gateway's policy reads it.

The gateway itself reads a handful of fields: it routes on ``model``, scans
``messages``, ``tools`` and ``response_format`` with the input guardrails,
keys the cache on the whole body, streams when ``stream`` is true, and reserves
budget for ``n`` answers of ``max_tokens`` (or ``max_completion_tokens``) each.
A value of the wrong type in any of them would otherwise surface deep in the
policy as an exception, or (a truthy ``"false"``, a ``max_tokens`` of ``true``)
be honoured as something it is not. So they are checked here, once, and each
refusal is a 400 naming the field, what it must be and what was sent. Fields
the gateway does not read are the provider's to judge.

The checks cost a look at each message, and, only when the raw body holds
enough brackets to nest past :data:`MAX_DEPTH` at all, one serialization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import BadRequestError
from gateway.routing import DEFAULT_MAX_OUTPUT_TOKENS

# Half the 255 levels orjson writes: the cache key, the trace and the stores add a few.
MAX_DEPTH = 128
# More output than any model writes in one answer; what the budget reservation can price.
MAX_OUTPUT_TOKENS = 1_000_000
# OpenAI's own bound on answers per request.
MAX_CHOICES = 128
MAX_MODEL_NAME = 256


@dataclass(slots=True)  # not frozen: a frozen one costs a microsecond more to make
class Bounds:
    """What the request may produce: ``choices`` answers of at most ``max_out`` tokens."""

    stream: bool
    max_out: int
    choices: int

    @property
    def output_tokens(self) -> int:
        return self.max_out * self.choices


def _refuse(field: str, must: str, value: Any, code: str = "invalid_request") -> BadRequestError:
    return BadRequestError(
        code, f"'{field}' must be {must}, not {_shown(value)}", extra={"param": field}
    )


def _shown(value: Any) -> str:
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"{value!r}"[:40]
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "null"


def _count(body: dict[str, Any], field: str, top: int, code: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= top:
        raise _refuse(field, f"an integer from 1 to {top}", value, code)
    return value


def too_deep(body: Any) -> bool:
    """Whether ``body`` nests arrays/objects past about :data:`MAX_DEPTH` levels: whether
    orjson, which stops at 255, fails to write it under ``MAX_DEPTH - 1`` more (one C
    pass, several times faster than walking the containers in Python)."""
    wrapped = body
    for _ in range(MAX_DEPTH - 1):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return True
    return False


def check(body: Any, raw: bytes) -> Bounds:
    """The request's bounds, or a 400 naming the first field that is not what it must be."""
    if not isinstance(body, dict):
        raise BadRequestError(
            "invalid_request",
            f"expected a JSON object with 'model' (a virtual model name) and 'messages' "
            f"(a list), not {_shown(body)}",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_NAME:
        raise _refuse("model", f"a virtual model name (1 to {MAX_MODEL_NAME} characters)", model)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _refuse("messages", "a list of message objects", messages)
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _refuse(
                f"messages[{i}]", 'an object such as {"role": ..., "content": ...}', message
            )
        if not isinstance(message.get("role"), str):
            raise _refuse(f"messages[{i}].role", 'a role such as "user"', message.get("role"))
    stream = body.get("stream")
    if stream is not None and type(stream) is not bool:
        raise _refuse("stream", "true or false", stream)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _refuse("stream_options", 'an object such as {"include_usage": true}', options)
        usage = options.get("include_usage")
        if usage is not None and type(usage) is not bool:
            raise _refuse("stream_options.include_usage", "true or false", usage)
    for field in ("tools", "functions"):
        listed = body.get(field)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise _refuse(field, "a list of objects", listed)
        for i, item in enumerate(listed):
            if not isinstance(item, dict):
                raise _refuse(f"{field}[{i}]", "an object", item)
    fmt = body.get("response_format")
    if fmt is not None and not isinstance(fmt, dict):
        raise _refuse("response_format", 'an object such as {"type": "json_object"}', fmt)
    # Nesting needs brackets: a body with few cannot be deep, and counting bytes is cheap.
    if raw.count(b"[") + raw.count(b"{") >= MAX_DEPTH and too_deep(body):
        raise BadRequestError(
            "invalid_request",
            f"the request nests arrays and objects more than {MAX_DEPTH} deep; flatten it",
        )
    limits = [
        n
        for field in ("max_completion_tokens", "max_tokens")
        if (n := _count(body, field, MAX_OUTPUT_TOKENS, "invalid_max_tokens")) is not None
    ]
    choices = _count(body, "n", MAX_CHOICES, "invalid_request") or 1
    return Bounds(bool(stream), max(limits) if limits else DEFAULT_MAX_OUTPUT_TOKENS, choices)
