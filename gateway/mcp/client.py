"""A lean keep-alive HTTP/1.1 client for the proxy's request/answer exchanges with
plain-HTTP catalog servers (``tools/call``, ``tools/list``): each connection is an
asyncio ``Protocol`` parsing answers with ``httptools``, pooled per (host, port),
most recently used first. It does less than a general client on purpose — no
redirects, cookies or decompression — because each request is on the hot path.

A request is never re-sent on its own: a tool call may have side effects, so a
connection that fails mid-request fails the request (at most once). Idle
connections are dropped after :data:`IDLE_S`, before servers commonly close
theirs (uvicorn: 5 s), so a request rarely meets a connection being closed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

IDLE_S = 4.0
# Receives (status, kept headers, chunk) for each chunk of an answer's body.
Sink = Callable[[int, list[tuple[bytes, bytes]], bytes], None]
# Answer headers the proxy passes back or reads.
KEEP = frozenset({b"content-type", b"mcp-session-id", b"cache-control", b"x-accel-buffering"})


class HttpFailure(Exception):
    """The server could not be reached, hung up, or answered something that is not HTTP."""


@dataclass
class Target:
    host: str
    port: int
    path: bytes
    head: bytes  # "POST <path> HTTP/1.1\r\nhost: …\r\n" without the method


def target(url: str) -> Target | None:
    """Where ``url`` points, if this client can serve it (plain http only)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = f"{parts.hostname}:{port}"
    return Target(
        parts.hostname, port, path.encode(), f" {path} HTTP/1.1\r\nhost: {host}\r\n".encode()
    )


class _Conn(asyncio.Protocol):
    __slots__ = (
        "body",
        "complete",
        "headers",
        "idle_since",
        "keep",
        "lost",
        "parser",
        "sink",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.complete = False
        self.keep = False
        self.lost = False
        self.idle_since = 0.0
        self.sink: Sink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpFailure(f"answer is not HTTP/1.1: {exc}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(HttpFailure(f"connection closed by the server{f': {exc}' if exc else ''}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in KEEP:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Asked here: once the message is complete the parser no longer knows.
        self.keep = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink(self.status, self.headers, body)
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def expire(self, after_s: float) -> None:
        self._fail(HttpFailure(f"no answer in {after_s:g} s"))

    def reset(self) -> None:
        self.headers = []
        self.body = []
        self.status = 0
        self.complete = False
        self.keep = False
        self.sink = None


class Client:
    """Pooled connections; :meth:`request` sends one request and reads its whole answer."""

    def __init__(self, timeout_s: float = 300.0, connect_s: float = 5.0, connections: int = 1000):
        self.timeout_s = timeout_s
        self.connect_s = connect_s
        # At most this many requests (so connections) at once; the rest queue for a turn.
        self.slots = asyncio.Semaphore(connections)
        self.idle: dict[tuple[str, int], deque[_Conn]] = {}
        self.targets: dict[str, Target | None] = {}

    def target(self, url: str) -> Target | None:
        found = self.targets.get(url, False)
        if found is False:
            found = self.targets[url] = target(url)
        return found  # type: ignore[return-value]

    async def _conn(self, t: Target) -> _Conn:
        pool = self.idle.get((t.host, t.port))
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if not conn.lost and now - conn.idle_since < IDLE_S:
                return conn
            if conn.transport is not None:
                conn.transport.close()
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Conn, t.host, t.port), self.connect_s
            )
        except (OSError, TimeoutError) as exc:
            raise HttpFailure(f"cannot connect to {t.host}:{t.port}: {exc or 'timed out'}") from exc
        return conn

    async def request(
        self,
        t: Target,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        sink: Sink | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, kept headers, body) of one exchange; with ``sink``, the body's chunks go
        to it as they arrive instead (and the body returned is empty)."""
        async with self.slots:
            return await self._request(t, method, body, headers, sink)

    async def _request(
        self,
        t: Target,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        sink: Sink | None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        head = [method.encode(), t.head]
        for k, v in headers.items():
            head.append(f"{k}: {v}\r\n".encode("latin-1"))
        if body is not None or method == "POST":
            head.append(b"content-length: %d\r\n" % len(body or b""))
        head.append(b"\r\n")
        conn = await self._conn(t)
        loop = asyncio.get_running_loop()
        conn.reset()
        conn.sink = sink
        conn.waiter = loop.create_future()
        assert conn.transport is not None
        conn.transport.writelines([*head, body] if body else head)
        timer = loop.call_later(self.timeout_s, conn.expire, self.timeout_s)
        try:
            await conn.waiter
        except BaseException:
            conn.transport.close()  # timed out, cancelled or failed mid-answer: never reuse it
            raise
        finally:
            timer.cancel()
            conn.waiter = None
        answer = (conn.status, conn.headers, b"".join(conn.body))
        if conn.keep and not conn.lost:
            conn.idle_since = time.monotonic()
            self.idle.setdefault((t.host, t.port), deque()).append(conn)
        else:
            conn.transport.close()
        return answer

    def close(self) -> None:
        for pool in self.idle.values():
            for conn in pool:
                if conn.transport is not None:
                    conn.transport.close()
        self.idle.clear()
