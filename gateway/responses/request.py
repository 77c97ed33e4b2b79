"""What a Responses API request must be, and the chat completions request it becomes.

``POST /v1/responses`` runs the chat policy, so the gateway has to read the
same things out of it that it reads out of a chat request: the model, every
text a model will see, the output limit, whether it streams. A Responses
request spells them differently (``instructions``, ``input`` items, flat
function tools, ``max_output_tokens``, ``text.format``), so this module checks
each field once, refuses what is not what it must be with a 400 naming the
field, and writes the equivalent chat completions body. That body is what the
input guardrails scan and what a provider that speaks only chat completions
is sent; a provider that speaks Responses is sent the caller's own body
(:func:`passthrough_body`).

The gateway keeps no conversation state: ``store: true``,
``previous_response_id`` and the other fields that need server-side state or a
tool the gateway does not run are refused by name rather than ignored, since a
caller relying on them would get a different answer than it asked for.
Fields that change nothing a provider computes (``metadata``, an empty
``include``, ``truncation: "disabled"``) are accepted and dropped.

One pass over the items, one serialization when the body has brackets enough
to nest past :data:`gateway.chatrequest.MAX_DEPTH`: linear in the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.chatrequest import MAX_DEPTH, MAX_MODEL_NAME, MAX_OUTPUT_TOKENS, too_deep
from gateway.errors import BadRequestError
from gateway.routing import DEFAULT_MAX_OUTPUT_TOKENS

ROLES = frozenset({"user", "assistant", "system", "developer"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
# Accepted and not sent on: none of them changes what a provider computes for a stateless call.
DROPPED = frozenset(
    {
        "metadata",
        "include",
        "truncation",
        "store",
        "background",
        "stream_options",
        "safety_identifier",
    }
)
# Sent on to a chat completions provider under the same name.
PASSED = ("temperature", "top_p", "user", "service_tier", "prompt_cache_key")
# What :func:`_scalars` checks (``PASSED`` among them).
SCALARS = frozenset({*PASSED, "safety_identifier", "metadata"})
KNOWN = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "text",
        "reasoning",
        "stream",
        *PASSED,
        *DROPPED,
    }
)
HINTS = {
    "previous_response_id": "the gateway keeps no responses: send the whole conversation as input items",
    "conversation": "the gateway keeps no conversations: send the whole conversation as input items",
    "prompt": "prompt templates live in the provider's account: send instructions instead",
    "top_logprobs": "log probabilities are not translated",
    "max_tool_calls": "the gateway runs no tools itself: bound the loop in the harness",
}


@dataclass(slots=True)
class Request:
    """A checked Responses request: the chat body it is, and what the answer echoes back."""

    model: str
    chat: dict[str, Any]
    stream: bool
    max_out: int
    echo: dict[str, Any]


def _refuse(field: str, must: str, value: Any = None) -> BadRequestError:
    shown = "" if value is None else f", not {_shown(value)}"
    return BadRequestError(
        "invalid_request", f"'{field}' must be {must}{shown}", extra={"param": field}
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


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(field, "a string", value)
    return value


def check(body: Any, raw: bytes) -> Request:
    """The request as the policy reads it, or a 400 naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise BadRequestError(
            "invalid_request",
            "expected a JSON object with 'model' (a virtual model name) and 'input' "
            f"(a string or a list of items), not {_shown(body)}",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_NAME:
        raise _refuse("model", f"a virtual model name (1 to {MAX_MODEL_NAME} characters)", model)
    for field in () if KNOWN.issuperset(body) else body:
        if field in HINTS and body[field] is not None:
            raise _refuse(field, f"absent: {HINTS[field]}")
        if field not in KNOWN and field not in HINTS:
            raise BadRequestError(
                "unsupported_parameter",
                f"'{field}' is not supported by the gateway's /v1/responses; remove it",
                extra={"param": field},
            )
    if body.get("store") is True:
        raise _refuse("store", "false or absent: the gateway keeps no responses (it is stateless)")
    if body.get("background") is True:
        raise _refuse("background", "false or absent: the gateway answers in the request")
    include = body.get("include")
    if include is not None and (
        not isinstance(include, list) or any(v != "reasoning.encrypted_content" for v in include)
    ):
        # Encrypted reasoning only asks for what a stateless caller keeps: harmless either way.
        raise _refuse(
            "include",
            'absent, or ["reasoning.encrypted_content"] (no other extra output is translated)',
            include,
        )
    truncation = body.get("truncation")
    if truncation not in (None, "disabled"):
        raise _refuse(
            "truncation", '"disabled" or absent (the gateway does not cut input)', truncation
        )
    if raw.count(b"[") + raw.count(b"{") >= MAX_DEPTH and too_deep(body):
        raise BadRequestError(
            "invalid_request",
            f"the request nests arrays and objects more than {MAX_DEPTH} deep; flatten it",
        )
    stream = body.get("stream")
    if stream is not None and type(stream) is not bool:
        raise _refuse("stream", "true or false", stream)
    max_out = body.get("max_output_tokens")
    if max_out is not None and (type(max_out) is not int or not 16 <= max_out <= MAX_OUTPUT_TOKENS):
        raise BadRequestError(
            "invalid_max_tokens",
            f"'max_output_tokens' must be an integer from 16 to {MAX_OUTPUT_TOKENS}, not {_shown(max_out)}",
            extra={"param": "max_output_tokens"},
        )
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        messages.append({"role": "system", "content": _text("instructions", instructions)})
    value = body.get("input")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    elif isinstance(value, list):
        _items(value, messages)
    else:
        raise _refuse("input", "a string or a list of input items", value)
    chat: dict[str, Any] = {"model": model, "messages": messages}
    tools = _tools(body.get("tools"))
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and type(parallel) is not bool:
        raise _refuse("parallel_tool_calls", "true or false", parallel)
    if tools:
        chat["tools"] = tools
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    choice = body.get("tool_choice")
    if choice is not None:
        chat["tool_choice"] = _tool_choice(choice)
    if not SCALARS.isdisjoint(body):  # most calls send none of them: skip the reads
        _scalars(body)
        for field in PASSED:
            if body.get(field) is not None:
                chat[field] = body[field]
    fmt = _format(body.get("text"))
    if fmt is not None:
        chat["response_format"] = fmt
    effort = _reasoning(body.get("reasoning"))
    if effort is not None:
        chat["reasoning_effort"] = effort
    if max_out is not None:
        # Renamed for the provider by the endpoint (routing.limit_field); the reservation reads it.
        chat["max_completion_tokens"] = max_out
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    echo = {
        "instructions": instructions,
        "tools": list(body.get("tools") or ()),
        "tool_choice": choice if choice is not None else "auto",
        "parallel_tool_calls": True if parallel is None else parallel,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": max_out,
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}},
        "reasoning": body.get("reasoning"),
        "metadata": body.get("metadata") or {},
        "user": body.get("user"),
    }
    return Request(model, chat, bool(stream), max_out or DEFAULT_MAX_OUTPUT_TOKENS, echo)


def _scalars(body: dict[str, Any]) -> None:
    """The sampling numbers, the strings sent on as they are, and ``metadata``."""
    for field, top in (("temperature", 2), ("top_p", 1)):
        value = body.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top
        ):
            raise _refuse(field, f"a number from 0 to {top}", value)
    for field in ("user", "service_tier", "prompt_cache_key", "safety_identifier"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise _refuse(field, "a string", value)
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _refuse("metadata", "an object of strings", metadata)


def _items(items: list[Any], messages: list[dict[str, Any]]) -> None:
    """Input items as chat messages: consecutive function calls become one assistant
    message's tool calls (joined to the assistant text just before them)."""
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _refuse(where, 'an input item such as {"role": "user", "content": "..."}', item)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if not isinstance(role, str) or role not in ROLES:
                raise _refuse(f"{where}.role", "one of user, assistant, system, developer", role)
            content = _content(f"{where}.content", item.get("content"), role == "assistant")
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": _text(f"{where}.call_id", item.get("call_id")),
                "type": "function",
                "function": {
                    "name": _text(f"{where}.name", item.get("name")),
                    "arguments": _text(f"{where}.arguments", item.get("arguments")),
                },
            }
            last = messages[-1] if messages else None
            if (
                last is not None
                and last["role"] == "assistant"
                and isinstance(last["content"], str | None)
            ):
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _content(f"{where}.output", output, True)
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _text(f"{where}.call_id", item.get("call_id")),
                    "content": text,
                }
            )
        elif kind == "reasoning":
            continue  # a provider's own reasoning state: chat completions has no place for it
        else:
            raise _refuse(
                f"{where}.type",
                "message, function_call, function_call_output or reasoning "
                "(the gateway is stateless and runs no built-in tools)",
                kind,
            )


def _content(field: str, value: Any, assistant: bool) -> Any:
    """A message's content: a string as it is; text parts joined (assistant) or kept as
    chat parts, images as chat image parts."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _refuse(field, "a string or a list of content parts", value)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(value):
        where = f"{field}[{j}]"
        if not isinstance(part, dict):
            raise _refuse(
                where, 'a content part such as {"type": "input_text", "text": "..."}', part
            )
        kind = part.get("type")
        if isinstance(kind, str) and kind in TEXT_PARTS:
            parts.append({"type": "text", "text": _text(f"{where}.text", part.get("text"))})
        elif kind == "refusal" and assistant:
            parts.append({"type": "text", "text": _text(f"{where}.refusal", part.get("refusal"))})
        elif kind == "input_image" and not assistant:
            url = part.get("image_url")
            if not isinstance(url, str):
                raise _refuse(
                    f"{where}.image_url", "a URL or data URL (file ids are not translated)", url
                )
            image: dict[str, Any] = {"url": url}
            if part.get("detail") is not None:
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise _refuse(f"{where}.type", "input_text, output_text or input_image", kind)
    if assistant:
        return "".join(p["text"] for p in parts)
    return parts


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _refuse("tools", "a list of function tools", value)
    out = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _refuse(where, "an object", tool)
        if tool.get("type") != "function":
            raise _refuse(
                f"{where}.type", '"function" (the gateway runs no built-in tools)', tool.get("type")
            )
        fn: dict[str, Any] = {"name": _text(f"{where}.name", tool.get("name"))}
        if tool.get("description") is not None:
            fn["description"] = _text(f"{where}.description", tool["description"])
        params = tool.get("parameters")
        if params is not None:
            if not isinstance(params, dict):
                raise _refuse(f"{where}.parameters", "a JSON Schema object", params)
            fn["parameters"] = params
        strict = tool.get("strict")
        if strict is not None:
            if type(strict) is not bool:
                raise _refuse(f"{where}.strict", "true or false", strict)
            fn["strict"] = strict
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(value: Any) -> Any:
    if value in ("none", "auto", "required"):
        return value
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
    ):
        return {"type": "function", "function": {"name": value["name"]}}
    raise _refuse("tool_choice", 'none, auto, required or {"type": "function", "name": ...}', value)


def _format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refuse("text", 'an object such as {"format": {"type": "text"}}', value)
    for key in value:
        if key not in ("format", "verbosity"):
            raise _refuse(f"text.{key}", "absent (only text.format is translated)")
    if value.get("verbosity") is not None:
        raise _refuse("text.verbosity", "absent (chat completions has no verbosity)")
    fmt = value.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        if not isinstance(fmt.get("schema"), dict):
            raise _refuse("text.format.schema", "a JSON Schema object", fmt.get("schema"))
        schema = {"name": _text("text.format.name", fmt.get("name")), "schema": fmt["schema"]}
        if fmt.get("description") is not None:
            schema["description"] = _text("text.format.description", fmt["description"])
        if fmt.get("strict") is not None:
            if type(fmt["strict"]) is not bool:
                raise _refuse("text.format.strict", "true or false", fmt["strict"])
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    raise _refuse("text.format.type", "text, json_object or json_schema", kind)


def _reasoning(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refuse("reasoning", 'an object such as {"effort": "low"}', value)
    for key, v in value.items():
        if key != "effort" and v is not None:
            raise _refuse(f"reasoning.{key}", "absent (only reasoning.effort is translated)")
    effort = value.get("effort")
    if effort is not None and (not isinstance(effort, str) or effort not in EFFORTS):
        raise _refuse("reasoning.effort", f"one of {', '.join(sorted(EFFORTS))}", effort)
    return effort


def passthrough_body(body: dict[str, Any], target: str, max_out: int) -> bytes:
    """The caller's own body for a provider that speaks Responses: the target model, and
    never without the output limit the reservation priced."""
    return orjson.dumps({**body, "model": target, "max_output_tokens": max_out, "store": False})
