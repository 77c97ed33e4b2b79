"""Interim events of a tools/call answer, passed on as they arrive: a server that
answers in SSE may send progress notifications and its own requests (elicitation,
sampling) before the result. Those reach the caller at once instead of with the
result; the result event itself is held back, because guardrails must see it
before the caller does. Interim messages pass the ``mcp_post_tool`` guardrails
too: redacted, or withheld when a rule blocks (a withheld server request then
goes unanswered and the server's call fails on its own timeout).

:class:`Relay` is fed the answer's body chunks by the HTTP client. It starts
the caller's response (the server's status and headers, through ``head``: the
session id shown as the caller's) at the first interim event; each event it
passes on is redacted of injected credentials first (``redact``); the endpoint
then sends the guarded remainder as the last chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Send = Callable[[dict[str, Any]], Awaitable[None]]
# Guardrails for one interim message: (the message to pass on, maybe redacted, or None to
# withhold it; the verdicts).
Screen = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, list[Any]]]
Headers = list[tuple[bytes, bytes]]


class Relay:
    def __init__(
        self,
        send: Send,
        request_id: Any,
        screen: Screen | None = None,
        *,
        redact: Callable[[bytes], bytes] | None = None,
        head: Callable[[Headers], Headers] | None = None,
    ):
        self.send = send
        self.request_id = request_id
        self.screen = screen
        self.redact = redact
        self.head = head
        self.verdicts: list[Any] = []
        self.started = False
        self.off = False  # not SSE, or the result was seen: hold everything from here on
        self.pending = b""
        self.held: list[bytes] = []
        self.sends: list[asyncio.Task[None]] = []

    def feed(self, status: int, headers: list[tuple[bytes, bytes]], chunk: bytes) -> None:
        if not self.started and not self.off:
            ctype = next((v for k, v in headers if k == b"content-type"), b"")
            if status != 200 or not ctype.startswith(b"text/event-stream"):
                self.off = True
        if self.off:
            self.held.append(chunk)
            return
        self.pending += chunk
        while not self.off:
            cut = _boundary(self.pending)
            if cut < 0:
                return
            event, self.pending = self.pending[:cut], self.pending[cut:]
            if self.redact is not None:
                event = self.redact(event)
            interim, msg = self._classify(event)
            if interim and msg is not None and self.screen is not None:
                passed, verdicts = self.screen(msg)
                self.verdicts.extend(verdicts)
                if passed is None:
                    continue  # withheld by a blocking guardrail
                if passed is not msg:
                    event = _render(event, passed)
            if interim:
                if not self.started:
                    self.started = True
                    shown = self.head(headers) if self.head is not None else headers
                    self._send({"type": "http.response.start", "status": status, "headers": shown})
                self._send({"type": "http.response.body", "body": event, "more_body": True})
            else:
                self.held.append(event)
                self.off = True
        self.held.append(self.pending)
        self.pending = b""

    def _classify(self, event: bytes) -> tuple[bool, dict[str, Any] | None]:
        """(interim?, its JSON-RPC message): anything but the answer to our request is interim."""
        data = b"\n".join(
            line[5:].lstrip(b" ")
            for line in event.replace(b"\r\n", b"\n").split(b"\n")
            if line.startswith(b"data:")
        )
        if not data:
            return True, None  # comments, retry hints: nothing to guard
        if b'"method"' not in data:
            return False, None  # a response (the result): no need to parse it here
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False, None
        if not isinstance(msg, dict):
            return False, None
        return "method" in msg or msg.get("id") != self.request_id, msg

    def _send(self, message: dict[str, Any]) -> None:
        # Tasks start in the order they are made, so the events keep their order.
        self.sends.append(asyncio.ensure_future(self.send(message)))

    @staticmethod
    def last(out: bytes) -> bytes:
        """``out`` as the stream's last event (a JSON answer made here, e.g. an error, is wrapped)."""
        if out.lstrip().startswith((b"event:", b"data:", b"id:", b":")):
            return out
        return b"event: message\ndata: " + out + b"\n\n"

    def rest(self) -> bytes:
        """Everything not passed on yet (the result event), once the answer is complete."""
        return b"".join(self.held) + self.pending

    async def flush(self) -> None:
        if self.sends:
            await asyncio.gather(
                *self.sends, return_exceptions=True
            )  # a caller gone is no error here
            self.sends = []


def _boundary(buf: bytes) -> int:
    """End (exclusive, separator included) of the first complete SSE event in ``buf``, or -1."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := buf.find(sep)) >= 0]
    return min(ends) if ends else -1


def _render(event: bytes, msg: dict[str, Any]) -> bytes:
    """``event`` with its data replaced by ``msg`` (its id and event lines kept)."""
    lines = [
        line
        for line in event.replace(b"\r\n", b"\n").split(b"\n")
        if line and not line.startswith(b"data:")
    ]
    return b"\n".join([*lines, b"data: " + orjson.dumps(msg)]) + b"\n\n"
