"""The httpx2 transport the official ``openai`` and ``mcp`` clients run on in the harness.

Under both clients, httpx2's own stack (httpcore2, h11, anyio's socket streams) was
about half of each call's CPU: a step went 10.99 → 5.79 ms in-process with the same
clients on a transport over asyncio streams. This is that transport, built on the
harness's one HTTP/1.1 implementation (:mod:`harness.http1`: connections, TLS, the
``httptools`` parser, the idle pool) and plugged in through httpx2's documented
interface (``AsyncClient(transport=...)``). The clients build every request and read
every answer as before (auth, retries, SSE parsing, sessions): only the bytes move
differently.

What it does:

- a keep-alive pool per (scheme, host, port), :data:`harness.http1.MAX_IDLE` idle
  connections each, one request at a time on a connection; every connection it
  opened is closed at :meth:`Transport.aclose`;
- the request's own timeouts (``extensions["timeout"]``, set by the clients from
  their ``httpx2.Timeout``): ``connect`` for the TCP connect and TLS handshake,
  ``write`` for sending, ``read`` between two reads of the answer (the MCP client's
  SSE streams wait up to it for the next event);
- failures as the exceptions the clients map: ``ConnectTimeout``, ``ConnectError``,
  ``WriteTimeout``, ``WriteError``, ``ReadTimeout``, ``ReadError``,
  ``RemoteProtocolError`` (openai turns the timeouts into ``APITimeoutError`` and
  the rest into ``APIConnectionError``);
- TLS for ``https`` with certificate verification (the context given, or
  ``ssl.create_default_context()``), the host as SNI;
- request bodies as bytes or as streams (sent chunked when httpx2 says so), answers
  with a length, chunked or ending at close, and none for ``HEAD``, 204 and 304;
- answers streamed as they come; one closed before its end closes its connection
  instead of pooling a half-read one;
- the keep-alive race: a reused connection that gives no byte of answer (the server
  closed it as the request went out) is retried once on a fresh one, never after an
  answer byte. The gateway also dedupes keyed writes, should a server that did act
  die before answering.

What it does not: proxies (the pod reaches only the gateway; environment proxy
variables are ignored), HTTP/2, a cap on connections in use, ``Expect: 100-continue``.
``FLEET_HARNESS_HTTP=httpx`` falls back to httpx2's own stack (:mod:`harness.settings`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator

import httptools
import httpx2

from harness.http1 import READ_CHUNK, Answer, ConnectFailed, Connection, Pool

REPLAY_LIMIT = 1 << 20
"""A streamed request body is kept for the idle-race retry up to this many bytes."""


class _Retry(Exception):
    """A reused connection closed before any byte of the answer."""


def _timeouts(request: httpx2.Request) -> tuple[float | None, float | None, float | None]:
    t = request.extensions.get("timeout") or {}
    return t.get("connect"), t.get("write"), t.get("read")


class _Body(httpx2.AsyncByteStream):
    """The answer's body as it arrives; the connection goes back to the pool only when
    the body was read to its end and the server keeps it alive."""

    def __init__(
        self,
        owner: Transport,
        key: tuple[bytes, str, int],
        conn: Connection,
        answer: Answer,
        read_s: float | None,
        head_only: bool,
    ):
        self.owner, self.key, self.conn, self.answer = owner, key, conn, answer
        self.read_s = read_s
        self.closed = False
        if head_only:
            answer.done = True
            answer.body.clear()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        answer = self.answer
        reader = self.conn.reader
        try:
            while True:
                if answer.body:
                    out = b"".join(answer.body)
                    answer.body.clear()
                    yield out
                if answer.done:
                    return
                try:
                    async with asyncio.timeout(self.read_s):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    raise httpx2.ReadTimeout(
                        f"no byte of the answer for {self.read_s:g} s"
                    ) from None
                except OSError as exc:
                    raise httpx2.ReadError(f"the connection failed: {exc!r}") from None
                if not data:
                    if not answer.framed():
                        answer.done = True  # a body that ends at close
                        answer.keep_alive = False
                        continue
                    raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")
                try:
                    answer.parser.feed_data(data)
                except httptools.HttpParserError as exc:
                    raise httpx2.RemoteProtocolError(
                        f"the answer is not valid HTTP/1.1: {exc}"
                    ) from None
        except BaseException:
            self._release(keep=False)  # an error or a cancel mid-body: its state is unknown
            raise

    async def aclose(self) -> None:
        self._release(keep=self.answer.done and self.answer.keep_alive)

    def _release(self, keep: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if keep:
            self.owner.pool.put(self.key, self.conn)
        else:
            self.owner.pool.discard(self.conn)


class Transport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 for the official clients over :mod:`harness.http1` (see the module's
    docstring for what it does and does not)."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.pool = Pool()

    def _context(self) -> ssl.SSLContext:
        if self.tls is None:
            self.tls = ssl.create_default_context()
        return self.tls

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"no {scheme.decode()!r} here: http or https only")
        https = scheme == b"https"
        key = (scheme, url.host, url.port or (443 if https else 80))
        connect_s = _timeouts(request)[0]
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), url.raw_path)]
        chunked = False
        for name, value in request.headers.raw:
            head.append(b"%s: %s\r\n" % (name, value))
            if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
        head.append(b"\r\n")
        start = b"".join(head)
        assert isinstance(request.stream, httpx2.AsyncByteStream)
        stream: AsyncIterable[bytes] = request.stream
        out: _Outgoing | None = _Outgoing()
        conn = self.pool.take(key)
        if conn is not None:
            try:
                return await self._exchange(request, key, conn, start, chunked, stream, out, True)
            except _Retry:
                again = out.again(request.stream) if out else None
                if again is None:
                    raise httpx2.RemoteProtocolError(
                        "the server closed a kept-alive connection before answering, "
                        "and the request's body cannot be sent again"
                    ) from None
                stream, out = again, None
        else:
            out = None
        try:
            conn = await self.pool.open(
                key[1], key[2], self._context() if https else None, connect_s
            )
        except ConnectFailed as exc:
            if exc.timed_out:
                raise httpx2.ConnectTimeout(str(exc)) from None
            raise httpx2.ConnectError(str(exc)) from None
        try:
            return await self._exchange(request, key, conn, start, chunked, stream, out, False)
        except _Retry:  # not raised on a fresh connection; kept for the type checker
            raise httpx2.RemoteProtocolError("the server closed the connection") from None

    async def _exchange(
        self,
        request: httpx2.Request,
        key: tuple[bytes, str, int],
        conn: Connection,
        start: bytes,
        chunked: bool,
        body: AsyncIterable[bytes],
        out: _Outgoing | None,
        reused: bool,
    ) -> httpx2.Response:
        _, write_s, read_s = _timeouts(request)
        answer = Answer()
        got = 0
        try:
            try:
                await _send(conn.writer, start, chunked, body, out, write_s)
            except TimeoutError:
                raise httpx2.WriteTimeout(f"sending took over {write_s:g} s") from None
            except OSError as exc:
                if reused:
                    raise _Retry from None
                raise httpx2.WriteError(f"the connection failed: {exc!r}") from None
            while not answer.head_done:
                try:
                    async with asyncio.timeout(read_s):
                        data = await conn.reader.read(READ_CHUNK)
                except TimeoutError:
                    raise httpx2.ReadTimeout(f"no answer within {read_s:g} s") from None
                except OSError as exc:
                    if got == 0 and reused:
                        raise _Retry from None
                    raise httpx2.ReadError(f"the connection failed: {exc!r}") from None
                if not data:
                    if got == 0 and reused:
                        raise _Retry
                    raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")
                got += len(data)
                try:
                    answer.parser.feed_data(data)
                except httptools.HttpParserError as exc:
                    raise httpx2.RemoteProtocolError(
                        f"the answer is not valid HTTP/1.1: {exc}"
                    ) from None
        except BaseException:
            self.pool.discard(conn)  # an error or a cancel: the connection's state is unknown
            raise
        stream = _Body(self, key, conn, answer, read_s, request.method == "HEAD")
        return httpx2.Response(
            answer.parser.get_status_code(),
            headers=answer.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    async def aclose(self) -> None:
        self.pool.close()


class _Outgoing:
    """A request body as sent on a reused connection, kept so the idle-race retry can send
    it again: a streamed body only when it was sent whole and within :data:`REPLAY_LIMIT`."""

    __slots__ = ("chunks", "complete", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] | None = []
        self.complete = False
        self.size = 0

    def keep(self, chunk: bytes) -> None:
        if self.chunks is None:
            return
        self.size += len(chunk)
        if self.size > REPLAY_LIMIT:
            self.chunks = None
        else:
            self.chunks.append(chunk)

    def again(self, stream: httpx2.AsyncByteStream) -> AsyncIterable[bytes] | None:
        if isinstance(stream, httpx2.ByteStream):
            return stream  # bytes: iterable again
        if self.complete and self.chunks is not None:
            return _replayed(self.chunks)
        return None


async def _send(
    writer: asyncio.StreamWriter,
    start: bytes,
    chunked: bool,
    body: AsyncIterable[bytes],
    out: _Outgoing | None,
    write_s: float | None,
) -> None:
    """The request head and body; the head goes out with the body's first chunk (one
    write for a bytes body)."""
    pending = start
    async for chunk in body:
        if not chunk:
            continue
        if out is not None:
            out.keep(chunk)
        writer.write(pending + (b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk))
        pending = b""
        async with asyncio.timeout(write_s):
            await writer.drain()
    if out is not None:
        out.complete = True
    end = b"0\r\n\r\n" if chunked else b""
    if pending or end:
        writer.write(pending + end)
        async with asyncio.timeout(write_s):
            await writer.drain()


async def _replayed(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
