"""The harness's one HTTP/1.1 implementation: keep-alive connections over asyncio streams,
answers parsed by ``httptools``.

Two journal appends a step went through httpx2 at ~1.1 ms of CPU each (request and
response models, header validation, the anyio socket layer, h11), more than all the
runs API's own work on the gateway; under the official ``openai`` and ``mcp`` clients
the same stack was half of each call's CPU. This module holds what both users share:
opening a connection (connect timeout, TLS with the caller's context and SNI), the
answer parser, and a bounded pool of idle connections per origin. On it sit
:class:`Http1`, the runs API's client (its requests are small, its answers short
JSON: a request is one buffer, an answer is read whole within one timeout), and
:mod:`harness.transport`, the httpx2 transport the official clients run on.

A kept-alive connection the server closed while it was idle (the request went out
as the server's close came in: no byte of answer) is retried once on a fresh
connection, never after an answer byte arrived. Every failure of :class:`Http1` is a
:class:`TransportError`; retrying is the caller's decision (:mod:`harness.runs`
retries with backoff, which the runs API allows: an append or a patch sent twice is
one change).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson

READ_CHUNK = 65536
MAX_IDLE = 4
"""Idle connections kept per origin; more are closed as they come back."""


class TransportError(Exception):
    """The request got no complete answer: the gateway is unreachable, closed the
    connection, answered something that is not HTTP, or ran past the timeout."""


class ConnectFailed(TransportError):
    """No connection: refused, unreachable, a TLS handshake or certificate that failed,
    or ``timed_out`` past the connect timeout."""

    def __init__(self, message: str, timed_out: bool):
        super().__init__(message)
        self.timed_out = timed_out


class Stale(Exception):
    """A kept-alive connection was found closed before it answered anything."""


class Response:
    __slots__ = ("_headers", "_raw", "body", "status")

    def __init__(self, status: int, raw: list[tuple[bytes, bytes]], body: bytes):
        self.status = status
        self._raw = raw
        self._headers: dict[str, str] | None = None
        self.body = body

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; decoded when first asked for (a journal append never asks)."""
        if self._headers is None:
            self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._raw}
        return self._headers

    # The names httpx's Response uses, so error reporting reads alike.
    @property
    def status_code(self) -> int:
        return self.status

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


class Answer:
    """httptools' callbacks for one response: its head, its body as it comes, its end.

    An interim ``1xx`` answer (``100 Continue``) is skipped: the head is the final one's.
    """

    __slots__ = ("body", "done", "head_done", "headers", "keep_alive", "parser", "reason")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.reason = b""
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:
            self.headers.clear()
            self.reason = b""
            return
        self.head_done = True
        # llhttp answers this only until the message is complete.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.done = True

    def framed(self) -> bool:
        """Whether the body's end is marked (a length, chunked, or no body by status):
        an unframed body ends when the server closes the connection."""
        status = self.parser.get_status_code()
        if status in (204, 304):
            return True
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"content-length" or (
                lname == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return True
        return False


class Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


async def connect(
    host: str, port: int, tls: ssl.SSLContext | None, timeout_s: float | None
) -> Connection:
    """A new connection, TLS-wrapped (the host as SNI and as the name the certificate
    must carry) when ``tls`` is given; the timeout covers the handshake too."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_CHUNK
            )
    except TimeoutError:
        raise ConnectFailed(
            f"connecting to {host}:{port} took over {timeout_s:g} s", timed_out=True
        ) from None
    except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
        raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}", timed_out=False) from None
    return Connection(reader, writer)


class Pool:
    """Idle connections per origin, at most :data:`MAX_IDLE` each, newest reused first;
    every connection it opened is closed by :meth:`close`, in use or not."""

    def __init__(self) -> None:
        self.idle: dict[Any, list[Connection]] = {}
        self.live: set[Connection] = set()
        self.closed = False

    def take(self, key: Any) -> Connection | None:
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            self.discard(conn)
        return None

    async def open(
        self, host: str, port: int, tls: ssl.SSLContext | None, timeout_s: float | None
    ) -> Connection:
        conn = await connect(host, port, tls, timeout_s)
        self.live.add(conn)
        return conn

    def put(self, key: Any, conn: Connection) -> None:
        idle = self.idle.setdefault(key, [])
        if len(idle) < MAX_IDLE and conn.usable and not self.closed:
            idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: Connection) -> None:
        conn.close()
        self.live.discard(conn)

    def close(self) -> None:
        self.closed = True  # an answer read to its end after this closes its connection
        live, self.live = self.live, set()
        self.idle.clear()
        for conn in live:
            conn.close()


class Http1:
    """Requests to one origin (``base_url``) with the same headers on each (a token, a
    content type)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        tls: ssl.SSLContext | bool = False,
    ):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.prefix = url.path.rstrip("/")
        if self.https and not isinstance(tls, ssl.SSLContext):
            tls = ssl.create_default_context()
        self.tls = tls if self.https and isinstance(tls, ssl.SSLContext) else None
        default = (self.https and self.port == 443) or (not self.https and self.port == 80)
        authority = url.netloc.rpartition("@")[2] if not default else self.host
        lines = [f"host: {authority}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._pool = Pool()

    async def aclose(self) -> None:
        self._pool.close()

    def _request_bytes(self, method: str, path: str, body: bytes | None) -> bytes:
        size = b"content-length: %d\r\n\r\n" % len(body or b"")
        start = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode("latin-1")
        return b"".join((start, self._head, size, body or b""))

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        data = self._request_bytes(method, path, body)
        conn = self._pool.take(None)
        if conn is not None:
            try:
                return await self._exchange(conn, data, reused=True)
            except Stale:
                pass  # closed by the gateway while idle: it never saw this request
        conn = await self._pool.open(self.host, self.port, self.tls, self.connect_timeout_s)
        try:
            return await self._exchange(conn, data, reused=False)
        except Stale as exc:
            raise TransportError(str(exc)) from None

    async def _exchange(self, conn: Connection, data: bytes, reused: bool) -> Response:
        answer = Answer()
        parser = answer.parser
        got = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(data)
                while not answer.done:
                    chunk = await conn.reader.read(READ_CHUNK)
                    if not chunk:
                        if got == 0 and reused:
                            raise Stale("the connection was closed before an answer")
                        if answer.head_done and not answer.framed():
                            break  # a body that ends at close
                        raise TransportError(
                            f"{self.host}:{self.port} closed the connection mid-answer"
                        )
                    got += len(chunk)
                    parser.feed_data(chunk)
        except Stale:
            self._pool.discard(conn)
            raise
        except TimeoutError:
            self._pool.discard(conn)
            raise TransportError(f"no complete answer within {self.timeout_s:g} s") from None
        except httptools.HttpParserError as exc:
            self._pool.discard(conn)
            raise TransportError(f"the answer is not valid HTTP/1.1: {exc}") from None
        except OSError as exc:
            self._pool.discard(conn)
            if got == 0 and reused:
                raise Stale(str(exc)) from None
            raise TransportError(f"the connection failed: {exc!r}") from None
        except BaseException:
            self._pool.discard(conn)  # cancelled mid-exchange: the connection's state is unknown
            raise
        if answer.done and answer.keep_alive:
            self._pool.put(None, conn)
        else:
            self._pool.discard(conn)
        return Response(parser.get_status_code(), answer.headers, b"".join(answer.body))
