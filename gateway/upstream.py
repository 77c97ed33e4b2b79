"""Pooled HTTP/1.1 client to model providers (OpenAI-compatible), one attempt at a time.

The request path is the gateway's hottest loop after the server itself, so it
does not go through a general-purpose client: each connection is an asyncio
``Protocol`` (uvloop underneath) that parses responses with
``httptools.HttpResponseParser`` and hands them over through one future.
Connections are kept alive per (scheme, host, port) in a bounded pool and the
most recently used idle one is reused first (LIFO keeps the warm ones warm and
lets the rest time out). A connection whose response was not read to its end,
or that answered ``Connection: close``, is closed, never reused. A pooled
connection the provider closed while it sat idle is retried once on a fresh
connection, but only when not one byte of the answer came back.

An attempt either returns a complete :class:`Reply`, or (streaming) an open
:class:`Stream` plus its first chunk, so the caller can still fall back before
anything reached the client. Failures are :class:`AttemptFailed` (retryable:
a status code, a timeout, a connection failure) or :class:`Final` (any other
status: returned to the caller as is).

The budget alert webhook and the OTLP exporter are not on the request path;
they keep a lazily created aiohttp session (:attr:`Upstream.session`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httptools

from fleet.gwconfig import GwProvider

if TYPE_CHECKING:
    import aiohttp

# Idle connections older than this are closed rather than reused (providers drop them too).
KEEPALIVE_S = 60.0
# Resolved provider addresses are reused this long (new connections come in bursts).
DNS_TTL_S = 300.0
# A stream buffers at most this much unread answer before the socket stops being read.
STREAM_HIGH_WATER = 64 * 1024


class AttemptFailed(Exception):
    """A retryable failure of one attempt: status code, or a connect/read timeout."""

    def __init__(self, reason: str, status: int | None = None, body: bytes = b""):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


class Final(AttemptFailed):
    """A non-retryable upstream answer: returned to the caller as is."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"upstream status {status}", status, body)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


class _Target:
    """Where one provider's requests go, with the request head prepared once."""

    __slots__ = ("head", "host", "key", "port", "tls")

    def __init__(self, base_url: str, api_key: str | None, path: str = "/chat/completions"):
        url = urlsplit(base_url.rstrip("/") + path)
        self.tls = url.scheme == "https"
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"provider base_url must be an http(s) URL, not {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if self.tls else 80)
        self.key = (url.scheme, self.host, self.port)
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        if url.port is not None and url.port != (443 if self.tls else 80):
            netloc += f":{url.port}"
        path = url.path + (f"?{url.query}" if url.query else "")
        head = f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
        if api_key:
            head += f"Authorization: Bearer {api_key}\r\n"
        self.head = (head + "Content-Length: ").encode("latin-1")

    def request(self, body: bytes) -> bytes:
        return b"".join((self.head, str(len(body)).encode(), b"\r\n\r\n", body))


class _Conn(asyncio.Protocol):
    """One keep-alive connection; parses each answer as it arrives.

    A non-streaming exchange resolves ``waiter`` when the answer is complete; a
    streaming one resolves it at the end of the headers and again whenever
    body bytes arrive, pausing the socket while the reader lags behind.
    """

    def __init__(self, pool: Upstream, key: tuple[str, str, int]):
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.counted = True  # holds one of the pool's slots
        self.closed = False
        self.reused = False
        self.busy = False
        self.streaming = False
        self.got_bytes = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.paused = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []
        self.buffered = 0
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        self.idle_timeout = 0.0
        self.mark = 0.0

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # nothing was asked: a confused server, not a connection to reuse
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        if not self.busy or self.complete:
            return
        if self.headers_done and "content-length" not in self.headers and not self._chunked():
            # An answer without a length runs until the connection closes.
            self._done()
            return
        self._fail(exc or ConnectionResetError("the provider closed the connection"))

    # ------------------------------------------------------------ parser events

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self.headers_done = True
        if self.streaming:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)
        if self.streaming:
            self.buffered += len(body)
            if self.buffered >= STREAM_HIGH_WATER and not self.paused and self.transport:
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:
            self.headers = {}
            return
        self.keep_alive = self.parser.should_keep_alive()
        self._done()

    # ------------------------------------------------------------ helpers

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _done(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _expire(self) -> None:
        self._fail(TimeoutError())
        self.close()

    def begin(self, request: bytes, streaming: bool) -> None:
        self.busy = True
        self.streaming = streaming
        self.got_bytes = self.headers_done = self.complete = self.keep_alive = False
        self.status = self.buffered = 0
        self.headers = {}
        self.parts = []
        self.error = None
        assert self.transport is not None
        self.transport.write(request)

    async def wait(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Until the parser wakes us (or the connection fails), at most until ``deadline``."""
        if self.error is not None:
            raise self.error
        waiter = self.waiter = loop.create_future()
        timer = loop.call_at(deadline, self._expire)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    async def wait_idle(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Until the parser wakes us, failing if ``timeout`` passes without a byte.

        One timer per stream, re-armed only when it fires, rather than one per chunk.
        """
        if self.error is not None:
            raise self.error
        self.mark = loop.time()
        if self.idle_timer is None:
            self.idle_timeout = timeout
            self.idle_timer = loop.call_at(self.mark + timeout, self._idle_check, loop)
        waiter = self.waiter = loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def _idle_check(self, loop: asyncio.AbstractEventLoop) -> None:
        self.idle_timer = None
        if self.closed or self.waiter is None:
            return  # not waiting now: the next wait arms the timer again
        if loop.time() - self.mark >= self.idle_timeout - 0.001:
            self._expire()
        else:
            self.idle_timer = loop.call_at(self.mark + self.idle_timeout, self._idle_check, loop)

    def take(self) -> bytes:
        """The body bytes received so far (a stream's next chunk); resumes a paused socket."""
        parts = self.parts
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.parts = []
        self.buffered = 0
        if self.paused and not self.closed and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def finish(self) -> None:
        """The caller is done: back to the pool if the answer was read whole, else closed."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.complete and self.keep_alive and not self.closed:
            self.busy = False
            self.pool._release(self)
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        self.pool._forget(self)
        if self.transport is not None:
            self.transport.close()


def _decoder(headers: dict[str, str]) -> Any:
    """A decompressor for a Content-Encoding we never asked for but may still get."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped, as RFC 9110 says
    else:
        return None  # identity, or something we cannot undo: passed on as it came
    del headers["content-encoding"]
    headers.pop("content-length", None)
    return zlib.decompressobj(wbits)


class Stream:
    """An open streaming answer: :meth:`read` chunk by chunk, then :meth:`close`."""

    def __init__(self, conn: _Conn, read_timeout: float):
        self._conn = conn
        self._timeout = read_timeout
        self._loop = asyncio.get_running_loop()
        self._decoder = _decoder(conn.headers)
        self.status = conn.status
        self.headers = conn.headers

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet (bounded: the socket pauses past the high water)."""
        return self._conn.buffered

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end of the answer. A silent provider times out."""
        conn = self._conn
        while True:
            if conn.parts:
                data = conn.take()
                if self._decoder is not None:
                    data = self._decoder.decompress(data)
                    if not data:
                        continue
                return data
            if conn.complete:
                if self._decoder is not None:
                    tail: bytes = self._decoder.flush()
                    self._decoder = None
                    if tail:
                        return tail
                return b""
            await conn.wait_idle(self._loop, self._timeout)

    async def read_all(self) -> bytes:
        chunks = []
        while chunk := await self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Return the connection to the pool if the answer was read to its end, else close it."""
        self._conn.finish()


class Upstream:
    """The gateway's client to providers: one bounded keep-alive pool for every provider."""

    # Streams hold a connection for the whole answer: size the pool for thousands of them.
    def __init__(self, connections: int = 4096, ssl_context: ssl.SSLContext | None = None):
        self.connections = connections
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._targets: dict[tuple[str, str | None, str], _Target] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._resolving: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._idle: dict[tuple[str, str, int], dict[_Conn, float]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def session(self) -> aiohttp.ClientSession:
        """An aiohttp session for side traffic (alert webhooks, OTLP export), made on first use."""
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    @property
    def open_connections(self) -> int:
        return self._open

    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    # ------------------------------------------------------------ requests

    def _target(
        self, provider: GwProvider, key: str | None, path: str = "/chat/completions"
    ) -> _Target:
        target = self._targets.get((provider.base_url, key, path))
        if target is None:
            target = _Target(provider.base_url, key, path)
            self._targets[(provider.base_url, key, path)] = target
        return target

    async def complete(
        self,
        provider: GwProvider,
        key: str | None,
        body: bytes,
        retry_on: frozenset[int],
        path: str = "/chat/completions",
    ) -> Reply:
        """One non-streaming exchange; ``path`` is the provider's endpoint under its base URL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + provider.timeout_s
        try:
            target = self._target(provider, key, path)
            request = target.request(body)
            conn = self._take_idle(target.key, loop) or await self._acquire(
                target, min(10.0, provider.timeout_s), deadline
            )
            try:
                await self._exchange(conn, request, loop, deadline)
            except ConnectionError:
                if not conn.reused or conn.got_bytes:
                    raise
                conn = await self._acquire(target, min(10.0, provider.timeout_s), deadline)
                await self._exchange(conn, request, loop, deadline)
            data = conn.take()
            status, headers = conn.status, conn.headers
            conn.finish()
            decoder = _decoder(headers)
            if decoder is not None:
                data = decoder.decompress(data) + decoder.flush()
        except TimeoutError as exc:
            raise AttemptFailed("upstream timeout") from exc
        except (OSError, httptools.HttpParserError, ValueError, zlib.error) as exc:
            raise AttemptFailed(f"upstream connection failed: {exc.__class__.__name__}") from exc
        if status in retry_on:
            raise AttemptFailed(f"upstream status {status}", status, data)
        return Reply(status, data, headers)

    async def open_stream(
        self,
        provider: GwProvider,
        key: str | None,
        body: bytes,
        retry_on: frozenset[int],
        path: str = "/chat/completions",
    ) -> tuple[Stream, bytes]:
        """Open a streaming response and read its first chunk: until then, a failure may fall back.
        ``path`` is the provider's endpoint under its base URL."""
        loop = asyncio.get_running_loop()
        read_timeout = provider.timeout_s
        connect = min(10.0, provider.timeout_s)
        try:
            target = self._target(provider, key, path)
            request = target.request(body)
            conn = self._take_idle(target.key, loop) or await self._acquire(
                target, connect, loop.time() + connect
            )
            try:
                await self._headers(conn, request, loop, read_timeout)
            except ConnectionError:
                if not conn.reused or conn.got_bytes:
                    raise
                conn = await self._acquire(target, connect, loop.time() + connect)
                await self._headers(conn, request, loop, read_timeout)
            resp = Stream(conn, read_timeout)
        except TimeoutError as exc:
            raise AttemptFailed("upstream timeout") from exc
        except (OSError, httptools.HttpParserError, ValueError) as exc:
            raise AttemptFailed(f"upstream connection failed: {exc.__class__.__name__}") from exc
        if resp.status != 200:
            try:
                data = await resp.read_all()
            except (TimeoutError, OSError, httptools.HttpParserError, zlib.error) as exc:
                raise AttemptFailed(f"upstream status {resp.status}", resp.status) from exc
            finally:
                resp.close()
            if resp.status in retry_on:
                raise AttemptFailed(f"upstream status {resp.status}", resp.status, data)
            raise Final(resp.status, data)
        try:
            first = await resp.read()
        except Exception as exc:
            resp.close()
            raise AttemptFailed("stream broke before its first byte") from exc
        except BaseException:
            resp.close()
            raise
        if not first:
            resp.close()
            raise AttemptFailed("stream ended before its first byte")
        return resp, first

    @staticmethod
    async def _exchange(
        conn: _Conn, request: bytes, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> None:
        try:
            conn.begin(request, False)
            await conn.wait(loop, deadline)
        except BaseException:
            conn.close()
            raise

    @staticmethod
    async def _headers(
        conn: _Conn, request: bytes, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        try:
            conn.begin(request, True)
            while not conn.headers_done:
                await conn.wait_idle(loop, timeout)
        except BaseException:
            conn.close()
            raise

    # ------------------------------------------------------------ the pool

    def _take_idle(
        self, key: tuple[str, str, int], loop: asyncio.AbstractEventLoop
    ) -> _Conn | None:
        """The most recently used idle connection to ``key`` that is still open, if any."""
        idle = self._idle.get(key)
        while idle:
            conn, since = idle.popitem()
            if conn.closed:
                continue
            if loop.time() - since > KEEPALIVE_S:
                conn.close()
                continue
            conn.reused = True
            conn.busy = True
            return conn
        return None

    async def _acquire(self, target: _Target, connect_timeout: float, deadline: float) -> _Conn:
        """A new connection to the target, waiting for room in the pool until ``deadline``."""
        loop = asyncio.get_running_loop()
        while self._open >= self.connections:
            if self._evict():
                continue
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the room we were given on to the next in line
                waiter.cancel()
                raise
            # Room may have come as an idle connection to this very target.
            conn = self._take_idle(target.key, loop)
            if conn is not None:
                return conn
        self._open += 1
        conn = _Conn(self, target.key)
        try:
            async with asyncio.timeout(min(connect_timeout, max(deadline - loop.time(), 0.0))):
                await self._connect(conn, target, loop)
        except BaseException:
            conn.close()
            raise
        conn.busy = True
        return conn

    async def _connect(self, conn: _Conn, target: _Target, loop: asyncio.AbstractEventLoop) -> None:
        """Connect to the first address of the host that answers (addresses cached a while)."""
        where = (target.host, target.port)
        cached = self._dns.get(where)
        if cached is None or cached[0] < loop.time():
            # A burst of new connections shares one lookup.
            lookup = self._resolving.get(where)
            if lookup is None:
                lookup = self._resolving[where] = asyncio.ensure_future(
                    loop.getaddrinfo(*where, type=socket.SOCK_STREAM)
                )
                lookup.add_done_callback(lambda f: self._lookup_done(where, f))
            infos = await asyncio.shield(lookup)
            cached = self._dns[where] = (loop.time() + DNS_TTL_S, [str(i[4][0]) for i in infos])
        failure: OSError | None = None
        for address in cached[1]:
            try:
                await loop.create_connection(
                    lambda: conn,
                    address,
                    target.port,
                    ssl=self._ssl_context() if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                )
                return
            except OSError as exc:
                failure = exc
        self._dns.pop(where, None)  # resolve afresh next time: the host may have moved
        raise failure or OSError(f"no address for {target.host}")

    def _lookup_done(self, where: tuple[str, int], lookup: asyncio.Future[Any]) -> None:
        self._resolving.pop(where, None)
        if not lookup.cancelled():
            lookup.exception()  # seen here even if every waiter gave up

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _evict(self) -> bool:
        """Close the least recently used idle connection to make room; False if none is idle."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
                return True
        return False

    def _release(self, conn: _Conn) -> None:
        now = asyncio.get_running_loop().time()
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = {}
        # The least recently used sit first: close those past their keep-alive.
        while idle:
            oldest, since = next(iter(idle.items()))
            if now - since <= KEEPALIVE_S:
                break
            oldest.close()
        idle[conn] = now
        self._wake_one()

    def _forget(self, conn: _Conn) -> None:
        idle = self._idle.get(conn.key)
        if idle is not None:
            idle.pop(conn, None)
        if conn.counted:
            conn.counted = False
            self._open -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()
        if self._session is not None:
            await self._session.close()
