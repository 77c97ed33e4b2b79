"""Interim events of a tools/call answer, passed on as they arrive: a server that
answers in SSE may send progress notifications and its own requests (elicitation,
sampling) before the result. Those reach the caller at once instead of with the
result; the result event itself is held back, because guardrails must see it
before the caller does.

:class:`Relay` is fed the answer's body chunks by the HTTP client. It starts
the caller's response (the server's status and headers) at the first interim
event; the endpoint then sends the guarded remainder as the last chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Relay:
    def __init__(self, send: Send, request_id: Any):
        self.send = send
        self.request_id = request_id
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
            if self._interim(event):
                if not self.started:
                    self.started = True
                    self._send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                self._send({"type": "http.response.body", "body": event, "more_body": True})
            else:
                self.held.append(event)
                self.off = True
        self.held.append(self.pending)
        self.pending = b""

    def _interim(self, event: bytes) -> bool:
        data = b"\n".join(
            line[5:].lstrip(b" ")
            for line in event.replace(b"\r\n", b"\n").split(b"\n")
            if line.startswith(b"data:")
        )
        if not data:
            return True  # comments, retry hints: nothing to guard
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        return isinstance(msg, dict) and ("method" in msg or msg.get("id") != self.request_id)

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
