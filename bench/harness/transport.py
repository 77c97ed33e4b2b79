"""An httpx2 transport over asyncio streams and ``httptools``, for measurement only.

The harness sends model and tool calls through the official ``openai`` and ``mcp``
clients on httpx2's own transport (httpcore2, h11, anyio's socket streams). To tell
how much of a step's CPU is that HTTP stack and how much is the clients themselves,
the ``cpu`` and ``mcp`` parts run the same calls with this transport plugged in
through httpx2's documented transport interface (``AsyncClient(transport=...)``):
the clients build every request and read every answer as before, only the bytes
move differently. It keeps connections alive and streams bodies (the MCP client
reads SSE answers as they come); it has no timeouts, TLS, proxies or retries, which
is why the product does not use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httptools
import httpx2

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Answer:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Body(httpx2.AsyncByteStream):
    def __init__(self, owner: StreamTransport, key: tuple[str, int], conn: Conn, answer: _Answer):
        self.owner, self.key, self.conn, self.answer = owner, key, conn, answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        answer = self.answer
        while True:
            if answer.chunks:
                out = b"".join(answer.chunks)
                answer.chunks.clear()
                yield out
            if answer.done:
                return
            data = await self.conn[0].read(65536)
            if not data:
                raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")
            answer.parser.feed_data(data)

    async def aclose(self) -> None:
        if self.answer.done and self.answer.keep_alive:
            self.owner.idle.setdefault(self.key, []).append(self.conn)
        else:
            self.conn[1].close()


class StreamTransport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], list[Conn]] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        key = (url.host, url.port or 80)
        conn: Conn | None = None
        idle = self.idle.get(key) or []
        while idle:
            found = idle.pop()
            if not found[0].at_eof():
                conn = found
                break
            found[1].close()
        if conn is None:
            conn = await asyncio.open_connection(*key)
        body = await request.aread()
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)]
        head += [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
        conn[1].write(b"".join((*head, b"\r\n", body)))
        answer = _Answer()
        while not answer.head_done:
            data = await conn[0].read(65536)
            if not data:
                conn[1].close()
                raise httpx2.RemoteProtocolError("the server closed the connection")
            answer.parser.feed_data(data)
        return httpx2.Response(
            answer.parser.get_status_code(),
            headers=answer.headers,
            stream=_Body(self, key, conn, answer),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for conns in self.idle.values():
            for _, writer in conns:
                writer.close()
        self.idle.clear()
