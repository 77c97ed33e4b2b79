"""The official clients on the harness's transport (harness/transport.py), over real loopback.

The ``openai`` client through the gateway to the scripted provider, its timeout, a refused
connection and a 500; the ``mcp`` client through the gateway's MCP proxy to the fake
github server (initialize, tools/list, an SSE answer with progress, the session DELETE on
close) and straight to an SDK server that notifies on the GET stream; and httpx2 on raw
asyncio servers for the edge cases: chunked and close-delimited answers, HEAD and 204, a
stream body, a peer closing mid-answer, the idle-close race, a slow answer, a response
closed before its end, TLS verification. Nothing is patched: the clients are given the
transport through their documented ``http_client`` / ``transport`` parameters."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer

from harness import settings as harness_settings
from harness.errors import UsageError
from harness.transport import Transport
from tests.gateway.fakes import ServerThread
from tests.harness.conftest import LOOP, TOKENS, Stack
from tests.harness.scripted import plan
from tests.harness.test_http1 import Handler, Server, cert, read_request, serve  # noqa: F401

TOKEN = TOKENS[LOOP]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- openai ---------------------------------------------------------------------------


async def test_openai_chat_completion_through_the_gateway(stack: Stack) -> None:
    stack.scripted.policies[LOOP] = plan(
        {"content": "hello", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    )
    transport = Transport()
    async with httpx2.AsyncClient(transport=transport, timeout=10) as http:
        client = openai.AsyncOpenAI(
            base_url=stack.url + "/v1", api_key=TOKEN, max_retries=0, http_client=http
        )
        for _ in range(3):
            done = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], user=LOOP
            )
            assert done.choices[0].message.content == "hello"
            assert done.usage is not None and done.usage.prompt_tokens == 7
        # three calls, one kept-alive connection
        assert len(transport.pool.live) == 1
    assert not transport.pool.live


async def test_openai_timeout_is_its_api_timeout_error(serve) -> None:  # noqa: F811
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    server = await serve(slow)
    async with httpx2.AsyncClient(transport=Transport()) as http:
        client = openai.AsyncOpenAI(
            base_url=server.url, api_key="k", max_retries=0, http_client=http, timeout=0.3
        )
        with pytest.raises(openai.APITimeoutError) as caught:
            await client.chat.completions.create(model="m", messages=[])
        assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)


async def test_openai_refused_connection_is_its_connection_error() -> None:
    async with httpx2.AsyncClient(transport=Transport()) as http:
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            api_key="k",
            max_retries=0,
            http_client=http,
        )
        with pytest.raises(openai.APIConnectionError) as caught:
            await client.chat.completions.create(model="m", messages=[])
        assert not isinstance(caught.value, openai.APITimeoutError)
        assert isinstance(caught.value.__cause__, httpx2.ConnectError)


async def test_openai_500_is_its_internal_server_error(serve) -> None:  # noqa: F811
    body = b'{"error": {"message": "upstream broke", "type": "server_error"}}'

    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()

    server = await serve(broken)
    async with httpx2.AsyncClient(transport=Transport()) as http:
        client = openai.AsyncOpenAI(
            base_url=server.url, api_key="k", max_retries=1, http_client=http
        )
        with pytest.raises(openai.InternalServerError, match="upstream broke"):
            await client.chat.completions.create(model="m", messages=[])
    # the client's own retry went out on the same connection
    assert server.connections == 1


# --- mcp ------------------------------------------------------------------------------


async def test_mcp_session_through_the_gateway(stack: Stack) -> None:
    seen: list[tuple[str, int]] = []

    async def answered(response: httpx2.Response) -> None:
        seen.append((response.request.method, response.status_code))

    transport = Transport()
    http = httpx2.AsyncClient(
        transport=transport,
        headers={"authorization": f"Bearer {TOKEN}", "x-fleet-run-id": "r-transport"},
        timeout=httpx2.Timeout(30, connect=5),
        event_hooks={"response": [answered]},
    )
    async with (
        http,
        streamable_http_client(f"{stack.url}/mcp/github", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"get_issue", "get_report", "create_pr"} <= names
        progress: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(done)

        result = await session.call_tool("get_report", {"parts": 2}, progress_callback=on_progress)
        assert result.content[0].text == "report of 2 parts"  # type: ignore[union-attr]
        assert progress == [1, 2]  # the SSE answer's events, as they came
        issue = await session.call_tool("get_issue", {"number": 3})
        assert issue.content[0].text == "issue 3: the build is red"  # type: ignore[union-attr]
    assert stack.calls("get_report") == [{"tool": "get_report", "args": {"parts": 2}}]
    assert ("DELETE", 200) in seen or ("DELETE", 204) in seen, seen
    assert not transport.pool.live


def notifier() -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    async def add_tool(ctx: Context) -> str:
        """Announce that the tool list changed (a notification for no request: the GET stream)."""
        await ctx.session.send_tool_list_changed()
        return "announced"

    return server


async def test_mcp_notification_arrives_on_the_get_stream() -> None:
    methods: list[str] = []
    changed = asyncio.Event()

    streams: list[tuple[int, str]] = []

    async def sent(request: httpx2.Request) -> None:
        methods.append(request.method)

    async def answered(response: httpx2.Response) -> None:
        if response.request.method == "GET":
            streams.append((response.status_code, response.headers.get("content-type", "")))

    async def on_message(message: Any) -> None:
        if type(message).__name__ == "ToolListChangedNotification" or "list_changed" in repr(
            message
        ):
            changed.set()

    with ServerThread(notifier().streamable_http_app()) as server:
        http = httpx2.AsyncClient(
            transport=Transport(),
            timeout=30,
            event_hooks={"request": [sent], "response": [answered]},
        )
        async with (
            http,
            streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            assert (await session.call_tool("add_tool", {})).content[0].text == "announced"  # type: ignore[union-attr]
            await asyncio.wait_for(changed.wait(), 10)
    assert "GET" in methods and methods[-1] == "DELETE", methods
    assert streams and streams[0][0] == 200 and streams[0][1].startswith("text/event-stream")


# --- httpx2 on raw servers ------------------------------------------------------------


async def answers(server: Server, *requests: tuple[str, str]) -> list[httpx2.Response]:
    out = []
    async with httpx2.AsyncClient(transport=Transport(), timeout=2) as http:
        for method, path in requests:
            out.append(await http.request(method, server.url + path))
    return out


async def test_chunked_close_delimited_head_and_204(serve) -> None:  # noqa: F811
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            path = head.split(b" ")[1]
            if path.endswith(b"/chunked"):
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for part in (b"one ", b"two ", b"three"):
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            elif path.endswith(b"/head"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            elif path.endswith(b"/empty"):
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
                await writer.drain()
                return
            await writer.drain()

    server = await serve(handler)
    got = await answers(
        server, ("GET", "/chunked"), ("HEAD", "/head"), ("DELETE", "/empty"), ("GET", "/close")
    )
    assert [(r.status_code, r.content) for r in got] == [
        (200, b"one two three"),
        (200, b""),
        (204, b""),
        (200, b"until the end"),
    ]
    assert got[3].reason_phrase == "OK" and got[3].http_version == "HTTP/1.1"
    assert server.connections == 1  # all four on one kept-alive connection


async def test_a_stream_body_goes_chunked(serve) -> None:  # noqa: F811
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
        received.append(body)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first,", b"", b"second"):
            yield part

    server = await serve(handler)
    async with httpx2.AsyncClient(transport=Transport()) as http:
        r = await http.post(server.url, content=parts())
    assert r.text == "ok" and received == [b"first,second"]


async def test_a_peer_closing_mid_answer_is_a_remote_protocol_error(serve) -> None:  # noqa: F811
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await writer.drain()

    server = await serve(handler)
    with pytest.raises(httpx2.RemoteProtocolError, match="mid-answer"):
        await answers(server, ("GET", "/"))


async def test_the_idle_close_race_is_retried_once_and_only_before_an_answer(serve) -> None:  # noqa: F811
    """The second request goes out on a kept connection the server drops it on, unanswered:
    sent again on a new one. A drop after an answer byte is an error, not a retry."""
    served: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = server.connections == 1
        while True:
            _, body = await read_request(reader)
            if first and served:
                return  # the next request on the first connection: dropped unanswered
            served.append(body)
            if body == b"d":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\npart")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server = await serve(handler)
    async with httpx2.AsyncClient(transport=Transport()) as http:
        assert (await http.post(server.url, content=b"a")).text == "ok"
        assert (await http.post(server.url, content=b"b")).text == "ok"
        assert server.connections == 2 and served == [b"a", b"b"]
        assert (await http.post(server.url, content=b"c")).text == "ok"
        with pytest.raises(httpx2.RemoteProtocolError, match="mid-answer"):
            await http.post(server.url, content=b"d")
    assert served == [b"a", b"b", b"c", b"d"]  # d was sent once


async def test_a_slow_answer_is_a_read_timeout(serve) -> None:  # noqa: F811
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = await serve(handler)
    http = httpx2.AsyncClient(transport=Transport(), timeout=0.2)
    async with http, http.stream("GET", server.url) as r:
        chunks = r.aiter_raw()
        assert await anext(chunks) == b"abc"
        with pytest.raises(httpx2.ReadTimeout):
            await anext(chunks)


async def test_a_response_closed_early_closes_its_connection(serve) -> None:  # noqa: F811
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789")
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(1), 0.1)  # the client hung up?
            except TimeoutError:
                writer.write(b"abcdefghij")
                await writer.drain()

    server = await serve(handler)
    transport = Transport()
    async with httpx2.AsyncClient(transport=transport) as http:
        async with http.stream("GET", server.url) as r:
            assert await anext(r.aiter_raw()) == b"0123456789"
        assert not transport.pool.live  # closed, not pooled half-read
        assert (await http.get(server.url)).content == b"0123456789abcdefghij"
    assert server.connections == 2


async def test_https_verifies_the_certificate(serve, cert) -> None:  # noqa: F811
    key, crt = cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server = Server(handler)
    server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_ctx)
    try:
        url = server.url.replace("http:", "https:")
        trusted = ssl.create_default_context(cafile=str(crt))
        async with httpx2.AsyncClient(transport=Transport(trusted)) as http:
            assert [(await http.get(url)).text for _ in range(2)] == ["ok", "ok"]
        assert server.connections == 1
        async with httpx2.AsyncClient(transport=Transport()) as http:
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(url)
    finally:
        server.server.close()


def test_the_escape_hatch_is_read_and_checked(stack: Stack) -> None:
    path = stack.content()
    env = stack.env("r-hatch", path)
    assert harness_settings.load(str(path), None, env).lean_http
    assert not harness_settings.load(
        str(path), None, {**env, "FLEET_HARNESS_HTTP": "httpx"}
    ).lean_http
    with pytest.raises(UsageError, match=r"\$FLEET_HARNESS_HTTP: expected 'lean'"):
        harness_settings.load(str(path), None, {**env, "FLEET_HARNESS_HTTP": "curl"})
