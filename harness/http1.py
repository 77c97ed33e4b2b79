"""A lean HTTP/1.1 client for the runs API: keep-alive connections over asyncio streams,
responses parsed by ``httptools``.

Two journal appends a step went through httpx2 at ~1.1 ms of CPU each (request and
response models, header validation, the anyio socket layer, h11), more than all the
runs API's own work on the gateway. The runs API is fleetctl's own protocol, its
requests are small and its answers short JSON, so this client writes a request as
one buffer and reads the answer with the C parser uvicorn uses: ~0.1 ms an append.

What it keeps of a real client: persistent connections (one per concurrent request,
idle ones reused), a connect timeout and a timeout for the whole exchange, TLS for
``https`` (the caller's context), and a fresh connection when a kept-alive one turns
out closed before it answered a byte. Every failure is a :class:`TransportError`;
retrying is the caller's decision (:mod:`harness.runs` retries with backoff, which the
runs API allows: an append or a patch sent twice is one change).
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


class TransportError(Exception):
    """The request got no complete answer: the gateway is unreachable, closed the
    connection, answered something that is not HTTP, or ran past the timeout."""


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    # The names httpx's Response uses, so error reporting reads alike.
    @property
    def status_code(self) -> int:
        return self.status

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Answer:
    """httptools' callbacks for one response."""

    __slots__ = ("body", "done", "headers", "keep_alive", "parser")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        # llhttp answers this only until the message is complete.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


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
        if self.https and tls is False:
            tls = ssl.create_default_context()
        self.tls = tls if self.https else None
        default = (self.https and self.port == 443) or (not self.https and self.port == 80)
        authority = url.netloc.rpartition("@")[2] if not default else self.host
        lines = [f"host: {authority}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Connection] = []

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                    limit=READ_CHUNK,
                )
        except TimeoutError:
            raise TransportError(
                f"connecting to {self.host}:{self.port} took over {self.connect_timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return _Connection(reader, writer)

    def _request_bytes(self, method: str, path: str, body: bytes | None) -> bytes:
        size = b"content-length: %d\r\n\r\n" % len(body or b"")
        start = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode("latin-1")
        return b"".join((start, self._head, size, body or b""))

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        data = self._request_bytes(method, path, body)
        while self._idle:
            conn = self._idle.pop()
            if not conn.usable:
                conn.close()
                continue
            try:
                return await self._exchange(conn, data, reused=True)
            except _Stale:
                continue  # closed by the gateway while idle: it never saw this request
        try:
            return await self._exchange(await self._connect(), data, reused=False)
        except _Stale as exc:
            raise TransportError(str(exc)) from None

    async def _exchange(self, conn: _Connection, data: bytes, reused: bool) -> Response:
        answer = _Answer()
        parser = answer.parser
        got = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(data)
                while not answer.done:
                    chunk = await conn.reader.read(READ_CHUNK)
                    if not chunk:
                        if got == 0 and reused:
                            raise _Stale("the connection was closed before an answer")
                        raise TransportError(
                            f"{self.host}:{self.port} closed the connection mid-answer"
                        )
                    got += len(chunk)
                    parser.feed_data(chunk)
        except _Stale:
            conn.close()
            raise
        except TimeoutError:
            conn.close()
            raise TransportError(f"no complete answer within {self.timeout_s:g} s") from None
        except httptools.HttpParserError as exc:
            conn.close()
            raise TransportError(f"the answer is not valid HTTP/1.1: {exc}") from None
        except OSError as exc:
            conn.close()
            if got == 0 and reused:
                raise _Stale(str(exc)) from None
            raise TransportError(f"the connection failed: {exc!r}") from None
        except BaseException:
            conn.close()  # cancelled mid-exchange: the connection's state is unknown
            raise
        if answer.keep_alive and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()
        return Response(parser.get_status_code(), answer.headers, b"".join(answer.body))


class _Stale(Exception):
    """A kept-alive connection was found closed before it answered anything."""
