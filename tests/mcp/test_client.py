"""The proxy's lean HTTP/1.1 client against a raw loopback server: keep-alive reuse,
chunked and sized answers, ``Connection: close``, and a request that is never
re-sent when the server hangs up mid-answer (a tool call runs at most once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.mcp.client import Client, HttpFailure, target

SIZED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nmcp-session-id: s1\r\n"
    b"transfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\n{}\n\r\n0\r\n\r\n"
)
CLOSE = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"


class Raw:
    """Answers each request with the next canned answer; ``None`` hangs up instead."""

    def __init__(self, answers: list[bytes | None]):
        self.answers = answers
        self.connections = 0
        self.requests = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests += 1
                answer = self.answers.pop(0)
                if answer is None:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                    await writer.drain()
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw(request: pytest.FixtureRequest) -> AsyncIterator[Raw]:
    server = Raw(list(request.param))
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


@pytest.mark.parametrize("raw", [[SIZED, CHUNKED, SIZED]], indirect=True)
async def test_keep_alive_sized_and_chunked(raw: Raw) -> None:
    client = Client()
    t = target(f"http://127.0.0.1:{raw.port}/mcp")
    assert t is not None
    status, headers, body = await client.request(t, "POST", b"{}", {"accept": "*/*"})
    assert (status, headers, body) == (200, [(b"content-type", b"application/json")], b"{}")
    status, headers, body = await client.request(t, "POST", b"{}", {})
    assert dict(headers)[b"mcp-session-id"] == b"s1" and body == b"data: {}\n"
    await client.request(t, "DELETE", None, {})
    assert (raw.connections, raw.requests) == (1, 3)
    client.close()


@pytest.mark.parametrize("raw", [[CLOSE, SIZED]], indirect=True)
async def test_connection_close_is_not_reused(raw: Raw) -> None:
    client = Client()
    t = target(f"http://127.0.0.1:{raw.port}/mcp")
    assert t is not None
    assert (await client.request(t, "POST", b"{}", {}))[2] == b"ok"
    assert (await client.request(t, "POST", b"{}", {}))[2] == b"{}"
    assert raw.connections == 2
    client.close()


@pytest.mark.parametrize("raw", [[None, SIZED]], indirect=True)
async def test_hang_up_mid_answer_fails_once_and_is_not_resent(raw: Raw) -> None:
    client = Client()
    t = target(f"http://127.0.0.1:{raw.port}/mcp")
    assert t is not None
    with pytest.raises(HttpFailure, match="connection closed by the server"):
        await client.request(t, "POST", b'{"method":"tools/call"}', {})
    assert raw.requests == 1
    assert (await client.request(t, "POST", b"{}", {}))[2] == b"{}"  # a fresh connection
    client.close()


async def test_unreachable_and_timeout() -> None:
    client = Client(timeout_s=0.2, connect_s=0.5)
    closed = target("http://127.0.0.1:9/mcp")
    assert closed is not None
    with pytest.raises(HttpFailure, match=r"cannot connect to 127\.0\.0\.1:9"):
        await client.request(closed, "POST", b"{}", {})
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    async with silent:
        t = target(f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}/mcp")
        assert t is not None
        with pytest.raises(HttpFailure, match=r"no answer in 0\.2 s"):
            await client.request(t, "POST", b"{}", {})
    assert target("https://example.com/mcp") is None
    client.close()


@pytest.mark.parametrize("raw", [[SIZED, SIZED, SIZED]], indirect=True)
async def test_connection_cap_queues_requests(raw: Raw) -> None:
    client = Client(connections=1)
    t = target(f"http://127.0.0.1:{raw.port}/mcp")
    assert t is not None
    answers = await asyncio.gather(*(client.request(t, "POST", b"{}", {}) for _ in range(3)))
    assert [a[2] for a in answers] == [b"{}"] * 3
    assert raw.connections == 1
    client.close()
