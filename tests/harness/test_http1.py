"""The runs API's HTTP/1.1 client (harness/http1.py) over real loopback sockets, against
small asyncio servers that answer the way a gateway, a proxy or a dying peer can:
keep-alive reuse, chunked bodies, an idle connection the server closed, a peer that
closes mid-answer, one that answers too slowly, one that answers something not HTTP,
and nobody listening."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from harness.http1 import Http1, TransportError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


class Server:
    def __init__(self, handler: Handler):
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/base"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for s in servers:
        assert s.server is not None
        s.server.close()


def keep_alive(requests: list[tuple[bytes, bytes]], body: bytes = b'{"ok": true}') -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            requests.append(await read_request(reader))
            writer.write(
                b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()

    return handler


async def test_requests_share_one_kept_alive_connection(serve) -> None:
    requests: list[tuple[bytes, bytes]] = []
    server = await serve(keep_alive(requests))
    http = Http1(server.url, {"authorization": "Bearer t", "content-type": "application/json"})
    for i in range(5):
        r = await http.request("PUT", f"/runs/{i}", b'{"n": %d}' % i)
        assert (r.status, r.json()) == (201, {"ok": True})
        assert r.headers["content-type"] == "application/json"
    await http.aclose()
    assert server.connections == 1
    head, body = requests[3]
    assert head.startswith(b"PUT /base/runs/3 HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer t\r\n" in head
    assert b"\r\nhost: 127.0.0.1:" in head
    assert body == b'{"n": 3}'


async def test_chunked_answer_is_read_whole(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in (b'{"journal": [', b"1, 2", b"]}"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(handler)
    http = Http1(server.url, {})
    r = await http.request("GET", "/runs/x")
    assert r.json() == {"journal": [1, 2]}
    await http.aclose()


async def test_a_connection_closed_while_idle_is_replaced(serve) -> None:
    """The gateway's keep-alive timeout closes an idle connection; the next request goes
    out on a fresh one instead of failing."""
    seen: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        seen.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # no connection: close header, but the server hangs up right after answering

    server = await serve(handler)
    http = Http1(server.url, {})
    assert (await http.request("GET", "/a")).body == b"ok"
    await asyncio.sleep(0.05)
    assert (await http.request("GET", "/b")).body == b"ok"
    assert server.connections == 2 and len(seen) == 2
    await http.aclose()


async def test_a_close_the_client_has_not_noticed_yet_is_retried_once(serve) -> None:
    """The race the idle check cannot see: the request is written to a connection whose
    close is still on its way; with no byte of answer on a reused connection, it is sent
    again on a new one."""
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        if served == 1:
            # the second request arrives, is dropped unanswered
            await read_request(reader)
            return
        await reader.read()

    server = await serve(handler)
    http = Http1(server.url, {})
    await http.request("GET", "/a")
    r = await http.request("GET", "/b")
    assert r.body == b"ok" and server.connections == 2
    await http.aclose()


async def test_a_peer_closing_mid_answer_is_a_transport_error(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await writer.drain()

    server = await serve(handler)
    http = Http1(server.url, {})
    with pytest.raises(TransportError, match="closed the connection mid-answer"):
        await http.request("GET", "/a")
    await http.aclose()


async def test_a_slow_answer_runs_into_the_timeout(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    server = await serve(handler)
    http = Http1(server.url, {}, timeout_s=0.2)
    with pytest.raises(TransportError, match=r"no complete answer within 0\.2 s"):
        await http.request("GET", "/a")
    await http.aclose()


async def test_an_answer_that_is_not_http_is_a_transport_error(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(handler)
    http = Http1(server.url, {})
    with pytest.raises(TransportError, match=r"not valid HTTP/1\.1"):
        await http.request("GET", "/a")
    await http.aclose()


async def test_nobody_listening_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = Http1(f"http://127.0.0.1:{port}", {})
    with pytest.raises(TransportError, match=r"cannot connect to 127\.0\.0\.1"):
        await http.request("GET", "/a")


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Http1("ftp://gateway", {})


@pytest.fixture
def cert(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl, as a gateway's own CA would issue)."""
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    argv = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        f"-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout {key} -out {crt}"
    )
    subprocess.run(
        argv.split(),
        check=True,
        capture_output=True,
    )
    return key, crt


async def test_https_verifies_the_gateway_certificate(serve, cert) -> None:
    key, crt = cert
    requests: list[tuple[bytes, bytes]] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)
    server = Server(keep_alive(requests))
    server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_ctx)
    try:
        url = server.url.replace("http:", "https:")
        trusted = ssl.create_default_context(cafile=str(crt))
        http = Http1(url, {}, tls=trusted)
        for _ in range(3):
            assert (await http.request("GET", "/runs")).json() == {"ok": True}
        assert server.connections == 1
        await http.aclose()
        # the system's trust store does not know this certificate: refused, no request sent
        http = Http1(url, {})
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.request("GET", "/runs")
        assert len(requests) == 3
    finally:
        server.server.close()
