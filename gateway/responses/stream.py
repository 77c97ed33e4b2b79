"""A chat completions stream, rewritten on the fly as the Responses API's event stream.

The chat stream path (:mod:`gateway.streaming`) already does everything a
stream needs from the policy: fallback before the first byte, output
guardrails, the injected credentials replaced, the usage chunk priced, and
the end held back until the call is settled. This module sits between it and
the client as the ASGI ``send`` it writes to, and turns each chat chunk into
the events the openai SDK parses, as the chunk arrives (nothing waits for the
whole answer): ``response.created`` and ``response.in_progress`` when the
stream opens; ``response.output_item.added``, ``response.content_part.added``
and ``response.output_text.delta`` for text (``response.refusal.delta`` for a
refusal); ``response.output_item.added`` and
``response.function_call_arguments.delta`` for each tool call; and at the
provider's ``[DONE]``, which :mod:`gateway.streaming` sends only once the spend
and the trace are recorded, the ``.done`` events of every open item and
``response.completed`` (``response.incomplete`` when the output limit cut it)
with the usage and ``fleet.cost_usd``. An in-band error (a stream that broke,
an output guardrail that stopped it) becomes an ``error`` event and
``response.failed``. An answer that is not a stream (an upstream error passed
back) goes out untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.asgi import Send
from gateway.responses.reply import (
    call_item,
    finish,
    message_item,
    new_id,
    skeleton,
    text_part,
    usage,
)


class EventStream:
    """The ``send`` a chat stream is written to; it writes Responses events to ``out``."""

    def __init__(self, out: Send, model: str, echo: dict[str, Any]):
        self.out = out
        self.response = skeleton(new_id("resp"), model, echo, "in_progress")
        self.seq = 0
        self.relay = False  # not a stream: bytes go out as they came
        self.buffer = b""
        self.ended = False
        self.items: list[dict[str, Any]] = []  # closed and open output items, by output_index
        # The open message: its output index, its part's kind (text or refusal), the text so far.
        self.text: tuple[int, str, list[str]] | None = None
        self.calls: dict[
            int, tuple[int, list[str]]
        ] = {}  # chat tool-call index -> (output index, args)
        self.reason: Any = None
        self.usage: Any = None
        self.cost: float | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            kind = dict(message.get("headers") or []).get(b"content-type", b"")
            if message["status"] != 200 or not kind.startswith(b"text/event-stream"):
                self.relay = True
                await self.out(message)
                return
            await self.out(message)
            out: list[bytes] = []
            self._event(out, "response.created", response=self._snapshot())
            self._event(out, "response.in_progress", response=self._snapshot())
            await self.out({"type": "http.response.body", "body": b"".join(out), "more_body": True})
            return
        if self.relay:
            await self.out(message)
            return
        more = bool(message.get("more_body"))
        whole = self.buffer + message.get("body", b"")
        *lines, self.buffer = whole.split(b"\n")
        if not more and self.buffer:
            lines.append(self.buffer)
            self.buffer = b""
        out = []
        for line in lines:
            self._line(line, out)
        if not more and not self.ended:
            self._fail(
                out,
                "stream_broken",
                "the provider's stream ended before its end; retry the request",
            )
        if out or not more:
            await self.out({"type": "http.response.body", "body": b"".join(out), "more_body": more})

    # ------------------------------------------------------------ chat lines

    def _line(self, line: bytes, out: list[bytes]) -> None:
        if self.ended:
            return
        if line.startswith(b": fleet "):
            try:
                figures = orjson.loads(line[8:])
                self.cost = float(figures["cost_usd"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
            return
        if not line.startswith(b"data:"):
            return  # blank separators and comments
        data = line[5:].strip()
        if data == b"[DONE]":
            self._complete(out)
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("error"), dict):
            error = chunk["error"]
            self._fail(
                out, str(error.get("code") or "server_error"), str(error.get("message") or "")
            )
            return
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
            fleet = chunk.get("fleet")
            if isinstance(fleet, dict) and isinstance(fleet.get("cost_usd"), int | float):
                self.cost = float(fleet["cost_usd"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # Responses has one answer
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str) and delta["content"]:
                    self._text(delta["content"], out, "output_text")
                if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                    self._text(delta["refusal"], out, "refusal")
                for tc in delta.get("tool_calls") or []:
                    if isinstance(tc, dict):
                        self._call(tc, out)
            if choice.get("finish_reason"):
                self.reason = choice["finish_reason"]

    def _text(self, part: str, out: list[bytes], kind: str) -> None:
        if self.text is not None and self.text[1] != kind:
            self._close_text(out)
        if self.text is None:
            index = len(self.items)
            item = message_item(new_id("msg"), "", "in_progress")
            self.items.append(item)
            self.text = (index, kind, [])
            self._event(out, "response.output_item.added", output_index=index, item=item)
            self._event(
                out,
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=_part(kind, ""),
            )
        index, _, parts = self.text
        parts.append(part)
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        self._event(
            out,
            f"response.{kind}.delta",
            item_id=self.items[index]["id"],
            output_index=index,
            content_index=0,
            delta=part,
            **extra,
        )

    def _call(self, tc: dict[str, Any], out: list[bytes]) -> None:
        key = tc.get("index", 0) if type(tc.get("index", 0)) is int else 0
        fn: dict[str, Any] = tc.get("function") or {}
        if not isinstance(fn, dict):
            fn = {}
        if key not in self.calls:
            self._close_text(out)
            index = len(self.items)
            item = call_item(
                new_id("fc"),
                str(tc.get("id") or new_id("call")),
                str(fn.get("name") or ""),
                "",
                "in_progress",
            )
            self.items.append(item)
            self.calls[key] = (index, [])
            self._event(out, "response.output_item.added", output_index=index, item=item)
        index, args = self.calls[key]
        piece = fn.get("arguments")
        if isinstance(piece, str) and piece:
            args.append(piece)
            self._event(
                out,
                "response.function_call_arguments.delta",
                item_id=self.items[index]["id"],
                output_index=index,
                delta=piece,
            )

    # ------------------------------------------------------------ ends

    def _close_text(self, out: list[bytes]) -> None:
        if self.text is None:
            return
        index, kind, parts = self.text
        self.text = None
        item = self.items[index]
        text = "".join(parts)
        item_id = item["id"]
        final: dict[str, Any] = (
            {"text": text, "logprobs": []} if kind == "output_text" else {"refusal": text}
        )
        self._event(
            out,
            f"response.{kind}.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            **final,
        )
        self._event(
            out,
            "response.content_part.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part=_part(kind, text),
        )
        item.update(status="completed", content=[_part(kind, text)])
        self._event(out, "response.output_item.done", output_index=index, item=item)

    def _complete(self, out: list[bytes]) -> None:
        self._close_text(out)
        for index, args in self.calls.values():
            item = self.items[index]
            item.update(arguments="".join(args), status="completed")
            self._event(
                out,
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            self._event(out, "response.output_item.done", output_index=index, item=item)
        self.calls.clear()
        self.ended = True
        response = self._snapshot()
        finish(response, self.reason)
        response["usage"] = usage(self.usage)
        if self.cost is not None:
            response["fleet"] = {"cost_usd": round(self.cost, 10)}
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        self._event(out, kind, response=response)

    def _fail(self, out: list[bytes], code: str, message: str) -> None:
        self.ended = True
        self._event(out, "error", code=code, message=message, param=None)
        response = self._snapshot()
        response["status"] = "failed"
        response["error"] = {"code": "server_error", "message": f"{code}: {message}"}
        if self.usage is not None:
            response["usage"] = usage(self.usage)
        if self.cost is not None:
            response["fleet"] = {"cost_usd": round(self.cost, 10)}
        self._event(out, "response.failed", response=response)

    def _snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": [dict(item) for item in self.items]}

    def _event(self, out: list[bytes], kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        out.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")


def _part(kind: str, text: str) -> dict[str, Any]:
    return text_part(text) if kind == "output_text" else {"type": "refusal", "refusal": text}
