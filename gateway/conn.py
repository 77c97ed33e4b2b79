"""The gateway's HTTP/1.1 connection: uvicorn's httptools protocol with deadlines and caps.

uvicorn bounds only the wait between two requests (keep-alive); a connection
that never finishes its head, or declares a body and never sends it, is held
for ever, and the first request of a connection has no deadline at all. This
protocol adds the limits of :mod:`gateway.limits`: a header deadline armed when
the connection opens (and at each later request's first byte), a body deadline
that moves with every chunk, a minimum body rate over windows of a body still
arriving (a trickle of a byte every few seconds never stalls, yet holds a
connection and a request slot for hours), a bound on head bytes, and a
connection cap that evicts idle connections before refusing new ones.

The hot path stays cheap: per request a deadline is set and cleared (the
connection's one header timer is re-armed only when it fires), the idle set is
updated twice, a head is measured only when the reads that carried it pass the
limit, and the body timer is armed only when a body is still outstanding after a
read (a body's bytes are counted on the reads that carry only body, and the same
timer measures its rate). About 5 us of CPU a request in all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.limits import Limits


def _reply(status: int, type_: str, code: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"type": type_, "code": code, "message": message, "param": None}})
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the reply is on the protocol."""


class Connections:
    """What the connections of one server share: the limits, and the connections with
    no request in flight, oldest first (the ones a new connection may displace)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.idle: dict[GatewayProtocol, None] = {}
        self.open = 0
        self.evicted = 0
        self.refused = 0
        limit = limits.max_header_bytes
        self.header_timeout_reply = _reply(
            408,
            "invalid_request_error",
            "header_timeout",
            f"the request head did not arrive within {limits.header_timeout:g} s",
        )
        self.body_timeout_reply = _reply(
            408,
            "invalid_request_error",
            "body_timeout",
            f"the request body made no progress for {limits.body_timeout:g} s",
        )
        self.too_slow_message = (
            "the request body came at {rate:.0f} bytes/s over the last {window:.1f} s, under the "
            f"gateway's minimum of {limits.min_body_rate} bytes/s: send it faster, or in one go"
        )
        self.too_large_reply = _reply(
            431,
            "invalid_request_error",
            "headers_too_large",
            f"the request line and headers are over {limit} bytes: send less in headers",
        )
        self.busy_reply = _reply(
            503,
            "server_error",
            "server_busy",
            f"the gateway holds its maximum of {limits.max_connections} connections, each "
            "with a request in flight: retry shortly",
        )
        self.invalid_reply = _reply(
            400, "invalid_request_error", "invalid_http", "the request is not valid HTTP/1.1"
        )

    def protocol(self) -> type[GatewayProtocol]:
        """A protocol class bound to these connections, for ``uvicorn.Config(http=...)``."""
        return type("BoundGatewayProtocol", (GatewayProtocol,), {"shared": self})


class GatewayProtocol(HttpToolsProtocol):
    shared: Connections

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self.shared.limits
        self.timeout_keep_alive = limits.keepalive_timeout  # type: ignore[assignment]
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_deadline = 0.0
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = False
        self._fed = 0
        self._head_raw = 0
        self._in_body = False
        self._body_seen = 0.0
        # The rate window: the body's bytes so far, and the time and count it began at.
        self._body_got = 0
        self._window_from = 0.0
        self._window_got = 0
        self._refusal: bytes | None = None

    # Connection lifetime

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        shared = self.shared
        shared.open += 1
        if shared.open > shared.limits.max_connections and not self._make_room():
            super().connection_made(transport)
            shared.refused += 1
            transport.write(shared.busy_reply)
            transport.close()
            return
        super().connection_made(transport)
        shared.idle[self] = None
        timeout = shared.limits.header_timeout
        self._head_deadline = self.loop.time() + timeout
        self._header_timer = self.loop.call_later(timeout, self._header_timeout)

    def _make_room(self) -> bool:
        idle = self.shared.idle
        if not idle:
            return False
        victim = next(iter(idle))
        del idle[victim]
        self.shared.evicted += 1
        victim.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        shared = self.shared
        shared.open -= 1
        shared.idle.pop(self, None)
        self._cancel_header_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _close_with(self, reply: bytes, *, in_body: bool = False) -> None:
        """Answer ``reply`` if the request it is about has no response yet, close, and tell a
        handler waiting on the body that the client is gone. A head belongs to a request
        with no cycle yet; a body to the current cycle."""
        cycle = self.cycle
        if in_body:
            answer = cycle is not None and not cycle.response_started
        else:
            answer = cycle is None or cycle.response_complete
        if answer:
            self.transport.write(reply)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # Reading

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._fed = len(data)
        if self._in_head:
            self._head_raw += self._fed
        elif self._in_body:
            now = self._body_seen = self.loop.time()
            self._body_got += self._fed
            if not self._window_from:
                self._resume_window(now)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrade is served (ws="none"): the request goes on as plain HTTP.
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            self._close_with(self._refusal or self.shared.invalid_reply, in_body=self._in_body)
            return
        if self._in_head:
            if self._head_raw > self.shared.limits.max_header_bytes:
                self._close_with(self.shared.too_large_reply)
        elif self._in_body and self._body_timer is None:
            # The body is still to come: both its clocks start at this read (its bytes are
            # counted from the next one, so a window measures only what came in it).
            self._body_seen = self._window_from = self.loop.time()
            self._body_got = self._window_got = 0
            limits = self.shared.limits
            wake = limits.body_timeout
            if limits.min_body_rate and limits.body_rate_window < wake:
                wake = limits.body_rate_window
            self._body_timer = self.loop.call_later(wake, self._body_timeout)

    def on_message_begin(self) -> None:
        # The head's bytes are bounded by those of the reads that carried it (the first
        # read counted whole: it may also hold the previous request's tail); only a head
        # past the limit by that bound is measured exactly, so most requests cost nothing.
        self._in_head = True
        self._head_raw = self._fed
        if not self._head_deadline:
            self._head_deadline = self.loop.time() + self.shared.limits.header_timeout
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_deadline = 0.0
        limit = self.shared.limits.max_header_bytes
        if self._head_raw > limit and (
            len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers) > limit
        ):
            self._refusal = self.shared.too_large_reply
            raise _Refused
        self.shared.idle.pop(self, None)
        super().on_headers_complete()
        self._in_body = True

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self.pipeline and not self.transport.is_closing():
            self.shared.idle[self] = None
        super().on_response_complete()

    # Deadlines

    def _header_timeout(self) -> None:
        # One timer per connection, re-armed when it fires rather than per request: a
        # kept-alive connection's requests each set a deadline and arm nothing.
        self._header_timer = None
        if self.transport.is_closing():
            return
        timeout = self.shared.limits.header_timeout
        now = self.loop.time()
        cycle = self.cycle
        if not self._head_deadline:
            pass  # no head arriving now
        elif cycle is not None and not cycle.response_complete:
            # A pipelined head waits behind a response in progress, which is not the
            # client's delay: it gets another period.
            self._head_deadline = now + timeout
        elif now >= self._head_deadline:
            if self._in_head:
                self._close_with(self.shared.header_timeout_reply)
            else:
                self.transport.close()  # nothing was sent: nothing to answer
            return
        wake = self._head_deadline - now if self._head_deadline else timeout
        self._header_timer = self.loop.call_later(wake, self._header_timeout)

    def _body_timeout(self) -> None:
        """The body's timer: no progress for the body timeout, or a window under the rate."""
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        limits = self.shared.limits
        limit = limits.body_timeout
        rate, window = limits.min_body_rate, limits.body_rate_window
        now = self.loop.time()
        cycle = self.cycle
        # The gateway not reading (flow control, or a 100-continue body not yet asked
        # for) is no fault of the client: the clocks start again when reading does.
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            self._body_seen = self._window_from = now
            self._window_got = self._body_got
        elif now - self._body_seen >= limit:
            self._close_with(self.shared.body_timeout_reply, in_body=True)
            return
        elif rate and now - self._window_from >= window:
            took = now - self._window_from
            got = self._body_got - self._window_got
            # A window with no byte at all is a stall, the body timeout's to judge (it
            # waits longer); a trickle is judged here.
            if 0 < got < rate * took:
                message = self.shared.too_slow_message.format(rate=got / took, window=took)
                reply = _reply(408, "invalid_request_error", "body_too_slow", message)
                self._close_with(reply, in_body=True)
                return
            # After a stall the next window starts with the next read (a window half
            # stalled would judge a resumed body by the stall).
            self._window_from, self._window_got = (now if got else 0.0), self._body_got
        wake = self._body_seen + limit
        if self._window_from and rate and self._window_from + window < wake:
            wake = self._window_from + window
        self._body_timer = self.loop.call_later(wake - now, self._body_timeout)

    def _resume_window(self, now: float) -> None:
        """A read after a stalled window: a new window starts with it (its bytes in it)."""
        self._window_from, self._window_got = now, self._body_got - self._fed
        if self._body_timer is not None:
            self._body_timer.cancel()
        limits = self.shared.limits
        self._body_timer = self.loop.call_later(
            min(limits.body_rate_window, limits.body_timeout), self._body_timeout
        )
