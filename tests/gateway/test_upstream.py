"""The gateway's upstream HTTP/1.1 client against real servers on loopback.

Each test starts a small scripted HTTP server (raw asyncio streams, so the
bytes on the wire are exactly what the test says: Content-Length, chunked,
read-until-close, gzip, Connection: close, slow or silent peers, TLS) and runs
on both the standard asyncio loop and uvloop, which the gateway uses.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from fleet.gwconfig import GwProvider
from gateway.upstream import STREAM_HIGH_WATER, AttemptFailed, Final, Stream, Upstream

RETRY_ON = frozenset({429, 500, 502, 503})
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
ANSWER = b'{"id":"x","choices":[{"message":{"content":"ok"}}]}'

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(asyncio.wait_for(coro, 20))

    return runner


# ---------------------------------------------------------------- a scripted server


@dataclass
class Seen:
    conn: int  # which connection (0, 1, ...) the request came on
    nth: int  # its position on that connection
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        m = re.search(rb"^" + name.encode() + rb":\s*(.*?)\r$", self.head, re.I | re.M)
        return m.group(1).decode() if m else None


Reply = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


class Server:
    """Answers each request with ``reply``; records what it saw and how many connections."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None):
        self.reply = reply
        self.tls = tls
        self.seen: list[Seen] = []
        self.conns = 0
        self.live = 0
        self.peak = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def url(self, path: str = "/v1") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cid, self.conns = self.conns, self.conns + 1
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            for nth in range(1_000_000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = re.search(rb"content-length: *(\d+)", head, re.I)
                body = await reader.readexactly(int(length.group(1))) if length else b""
                seen = Seen(cid, nth, head, body)
                self.seen.append(seen)
                if not await self.reply(seen, writer):
                    return
        except ConnectionError:
            pass
        finally:
            self.live -= 1
            writer.close()


def response(
    body: bytes = ANSWER, status: int = 200, headers: tuple[str, ...] = (), length: bool = True
) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*parts: bytes, headers: tuple[str, ...] = ()) -> bytes:
    head = "\r\n".join(
        [
            "HTTP/1.1 200 OK",
            "Content-Type: text/event-stream",
            "Transfer-Encoding: chunked",
            *headers,
        ]
    )
    out = head.encode() + b"\r\n\r\n"
    for p in parts:
        out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    return out + b"0\r\n\r\n"


def answer(data: bytes, keep: bool = True) -> Reply:
    async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
        w.write(data)
        await w.drain()
        return keep

    return reply


def provider(url: str, timeout: float = 5.0) -> GwProvider:
    return GwProvider(base_url=url, timeout_s=timeout)


# ---------------------------------------------------------------- requests and answers


def test_request_head_and_content_length_answer(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response(headers=("X-Request-Id: abc",)))) as srv:
            up = Upstream()
            reply = await up.complete(provider(srv.url("/proxy/v1/")), "sk-1", BODY, RETRY_ON)
            await up.close()
        assert (reply.status, reply.body) == (200, ANSWER)
        assert reply.headers["x-request-id"] == "abc"
        assert reply.headers["content-type"] == "application/json"
        [seen] = srv.seen
        assert seen.head.startswith(b"POST /proxy/v1/chat/completions HTTP/1.1\r\n")
        assert seen.header("host") == f"127.0.0.1:{srv.port}"
        assert seen.header("authorization") == "Bearer sk-1"
        assert seen.header("content-type") == "application/json"
        assert seen.header("content-length") == str(len(BODY))
        assert seen.header("accept-encoding") is None
        assert seen.body == BODY

    run(scenario())


def test_no_authorization_without_a_key(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response())) as srv:
            up = Upstream()
            await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            await up.close()
        assert srv.seen[0].header("authorization") is None

    run(scenario())


@pytest.mark.parametrize(
    "wire",
    [
        chunked(ANSWER[:10], ANSWER[10:]),
        response(length=False, headers=("Connection: close",)),
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + ANSWER,
        response(gzip.compress(ANSWER), headers=("Content-Encoding: gzip",)),
        b"HTTP/1.1 100 Continue\r\n\r\n" + response(),
    ],
    ids=["chunked", "until-close", "http-1.0", "gzip", "interim-100"],
)
def test_answer_framings(run: Run, wire: bytes) -> None:
    keep = b"Connection: close" not in wire and b"HTTP/1.0" not in wire

    async def scenario() -> None:
        async with Server(answer(wire, keep)) as srv:
            up = Upstream()
            reply = await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            assert (reply.status, reply.body) == (200, ANSWER)
            assert "content-encoding" not in reply.headers
            assert up.idle_connections() == (1 if keep else 0)
            await up.close()

    run(scenario())


def test_retryable_status_fails_the_attempt_with_the_body(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response(b'{"error":"slow down"}', 429))) as srv:
            up = Upstream()
            with pytest.raises(AttemptFailed) as err:
                await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            assert (err.value.status, err.value.body) == (429, b'{"error":"slow down"}')
            assert err.value.reason == "upstream status 429"
            reply = await up.complete(provider(srv.url()), None, BODY, frozenset())
            assert reply.status == 429
            await up.close()

    run(scenario())


# ---------------------------------------------------------------- the pool


def test_keep_alive_reuses_one_connection(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response())) as srv:
            up = Upstream()
            for _ in range(5):
                await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            assert (up.open_connections, up.idle_connections()) == (1, 1)
            await up.close()
        assert srv.conns == 1
        assert [s.nth for s in srv.seen] == [0, 1, 2, 3, 4]

    run(scenario())


def test_idle_connections_are_reused_most_recent_first(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            # The first connection answers last, so it is the most recently released.
            await asyncio.sleep(0.2 if seen.conn == 0 and seen.nth == 0 else 0.0)
            w.write(response())
            return True

        async with Server(reply) as srv:
            up = Upstream()
            p = provider(srv.url())
            first = asyncio.ensure_future(up.complete(p, None, BODY, RETRY_ON))
            while srv.conns < 1:
                await asyncio.sleep(0.005)
            await up.complete(p, None, BODY, RETRY_ON)  # a second connection, released first
            await first
            await up.complete(p, None, BODY, RETRY_ON)
            await up.close()
        assert srv.conns == 2
        assert srv.seen[-1].conn == 0

    run(scenario())


def test_connection_close_is_not_reused(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response(headers=("Connection: close",)), keep=True)) as srv:
            up = Upstream()
            for _ in range(3):
                await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            assert (up.open_connections, up.idle_connections()) == (0, 0)
            await up.close()
        assert srv.conns == 3

    run(scenario())


def test_the_pool_is_bounded(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            await asyncio.sleep(0.05)
            w.write(response())
            return True

        async with Server(reply) as srv:
            up = Upstream(connections=2)
            p = provider(srv.url())
            replies = await asyncio.gather(
                *(up.complete(p, None, BODY, RETRY_ON) for _ in range(8))
            )
            await up.close()
        assert [r.status for r in replies] == [200] * 8
        assert srv.peak == 2
        assert srv.conns == 2

    run(scenario())


def test_idle_connection_closed_by_the_server_is_replaced(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            w.write(response())
            await w.drain()
            await asyncio.sleep(0.05)  # then drop the idle connection, as servers do
            return False

        async with Server(reply) as srv:
            up = Upstream()
            p = provider(srv.url())
            await up.complete(p, None, BODY, RETRY_ON)
            await asyncio.sleep(0.2)
            reply2 = await up.complete(p, None, BODY, RETRY_ON)
            await up.close()
        assert reply2.body == ANSWER
        assert [s.conn for s in srv.seen] == [0, 1]

    run(scenario())


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_stale_connection_is_retried_once_on_a_fresh_one(run: Run, streaming: bool) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            if seen.nth == 1:  # the race: the server gave up on the connection as we sent
                w.transport.abort()
                return False
            w.write(chunked(ANSWER) if streaming else response())
            return True

        async with Server(reply) as srv:
            up = Upstream()
            p = provider(srv.url())
            if streaming:
                await drain(*await up.open_stream(p, None, BODY, RETRY_ON))
                body = await drain(*await up.open_stream(p, None, BODY, RETRY_ON))
            else:
                await up.complete(p, None, BODY, RETRY_ON)
                body = (await up.complete(p, None, BODY, RETRY_ON)).body
            await up.close()
        assert body == ANSWER
        assert [(s.conn, s.nth) for s in srv.seen] == [(0, 0), (0, 1), (1, 0)]

    run(scenario())


def test_no_retry_once_part_of_the_answer_came(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            if seen.nth == 1:
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
                await w.drain()
                return False
            w.write(response())
            return True

        async with Server(reply) as srv:
            up = Upstream()
            p = provider(srv.url())
            await up.complete(p, None, BODY, RETRY_ON)
            with pytest.raises(AttemptFailed) as err:
                await up.complete(p, None, BODY, RETRY_ON)
            assert up.open_connections == 0
            await up.close()
        assert err.value.reason.startswith("upstream connection failed: ")
        assert len(srv.seen) == 2

    run(scenario())


def test_no_retry_on_a_fresh_connection(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            w.transport.abort()
            return False

        async with Server(reply) as srv:
            up = Upstream()
            with pytest.raises(AttemptFailed) as err:
                await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            await up.close()
        assert err.value.reason.startswith("upstream connection failed: ")
        assert len(srv.seen) == 1

    run(scenario())


# ---------------------------------------------------------------- failures and timeouts


def test_host_names_resolve(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response())) as srv:
            up = Upstream()
            # Resolved once, then reused: the second request goes out on the kept connection.
            p = provider(f"http://localhost:{srv.port}/v1")
            for _ in range(2):
                reply = await up.complete(p, None, BODY, RETRY_ON)
                assert reply.body == ANSWER
            # A burst of new connections before the name is known (they share one lookup).
            burst = Upstream()
            replies = await asyncio.gather(
                *(burst.complete(p, None, BODY, RETRY_ON) for _ in range(20))
            )
            assert {r.body for r in replies} == {ANSWER}
            assert burst.open_connections == 20
            await burst.close()
            # A host that does not resolve fails the attempt like any connection failure.
            with pytest.raises(AttemptFailed) as err:
                await up.complete(provider("http://no-such-host.invalid/v1"), None, BODY, RETRY_ON)
            assert err.value.reason == "upstream connection failed: gaierror"
            await up.close()
        assert srv.seen[0].header("host") == f"localhost:{srv.port}"

    run(scenario())


def test_connection_refused(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(response())) as srv:
            url = srv.url()
        up = Upstream()
        with pytest.raises(AttemptFailed) as err:
            await up.complete(provider(url), None, BODY, RETRY_ON)
        assert err.value.reason == "upstream connection failed: ConnectionRefusedError"
        assert up.open_connections == 0
        with pytest.raises(AttemptFailed) as err:
            await up.open_stream(provider(url), None, BODY, RETRY_ON)
        assert err.value.reason == "upstream connection failed: ConnectionRefusedError"
        await up.close()

    run(scenario())


def test_total_timeout(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
            await asyncio.sleep(2)  # the rest of the body never comes in time
            return False

        async with Server(reply) as srv:
            up = Upstream()
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(AttemptFailed) as err:
                await up.complete(provider(srv.url(), timeout=0.3), None, BODY, RETRY_ON)
            assert 0.25 < loop.time() - t0 < 1.5
            assert up.open_connections == 0
            await up.close()
        assert err.value.reason == "upstream timeout"

    run(scenario())


def test_connect_timeout(run: Run) -> None:
    async def scenario() -> None:
        # A TLS provider that accepts and never answers the handshake.
        async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await asyncio.sleep(3)
            w.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        up = Upstream()
        with pytest.raises(AttemptFailed) as err:
            await up.complete(provider(f"https://127.0.0.1:{port}/v1", 0.3), None, BODY, RETRY_ON)
        assert err.value.reason == "upstream timeout"
        assert up.open_connections == 0
        server.close()
        await up.close()

    run(scenario())


def test_a_cancelled_attempt_gives_its_connection_back(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await asyncio.sleep(2)
            return False

        async with Server(reply) as srv:
            up = Upstream(connections=1)
            p = provider(srv.url())
            for attempt in (up.complete, up.open_stream):
                task = asyncio.ensure_future(attempt(p, None, BODY, RETRY_ON))
                await asyncio.sleep(0.1)
                assert up.open_connections == 1
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert up.open_connections == 0
            await up.close()

    run(scenario())


# ---------------------------------------------------------------- streams


def sse_reply(chunks: list[bytes], delay: float = 0.0, gz: bool = False) -> Reply:
    async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        )
        if gz:
            head += "Content-Encoding: gzip\r\n"
        w.write(head.encode() + b"\r\n")
        data = gzip.compress(b"".join(chunks)) if gz else None
        parts = [data[: len(data) // 2], data[len(data) // 2 :]] if data else chunks
        for c in parts:
            await asyncio.sleep(delay)
            w.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
            await w.drain()
        w.write(b"0\r\n\r\n")
        return True

    return reply


EVENTS = [b'data: {"n":1}\n\n', b'data: {"n":2}\n\n', b"data: [DONE]\n\n"]


async def drain(stream: Stream, first: bytes) -> bytes:
    out = first
    while chunk := await stream.read():
        out += chunk
    stream.close()
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_stream_chunk_by_chunk_then_reused(run: Run, gz: bool) -> None:
    async def scenario() -> None:
        async with Server(sse_reply(EVENTS, delay=0.01, gz=gz)) as srv:
            up = Upstream()
            p = provider(srv.url())
            stream, first = await up.open_stream(p, "sk", BODY, RETRY_ON)
            assert stream.status == 200
            assert stream.headers["content-type"] == "text/event-stream"
            if not gz:
                assert first == EVENTS[0]
            assert await drain(stream, first) == b"".join(EVENTS)
            assert up.idle_connections() == 1
            stream, first = await up.open_stream(p, "sk", BODY, RETRY_ON)
            assert await drain(stream, first) == b"".join(EVENTS)
            await up.close()
        assert srv.conns == 1

    run(scenario())


def test_stream_left_unread_is_not_reused(run: Run) -> None:
    async def scenario() -> None:
        async with Server(sse_reply(EVENTS, delay=0.05)) as srv:
            up = Upstream()
            p = provider(srv.url())
            stream, first = await up.open_stream(p, None, BODY, RETRY_ON)
            stream.close()
            assert (up.open_connections, up.idle_connections()) == (0, 0)
            stream, first = await up.open_stream(p, None, BODY, RETRY_ON)
            assert await drain(stream, first) == b"".join(EVENTS)
            await up.close()
        assert srv.conns == 2

    run(scenario())


@pytest.mark.parametrize(
    ("status", "failure"), [(503, AttemptFailed), (400, Final)], ids=["retryable", "final"]
)
def test_stream_error_status(run: Run, status: int, failure: type[AttemptFailed]) -> None:
    async def scenario() -> None:
        async with Server(answer(response(b'{"error":"no"}', status))) as srv:
            up = Upstream()
            with pytest.raises(AttemptFailed) as err:
                await up.open_stream(provider(srv.url()), None, BODY, RETRY_ON)
            assert type(err.value) is failure
            assert (err.value.status, err.value.body) == (status, b'{"error":"no"}')
            assert up.idle_connections() == 1  # the error body was read whole
            await up.close()

    run(scenario())


def test_stream_that_ends_before_its_first_byte(run: Run) -> None:
    async def scenario() -> None:
        async with Server(answer(chunked())) as srv:
            up = Upstream()
            with pytest.raises(AttemptFailed) as err:
                await up.open_stream(provider(srv.url()), None, BODY, RETRY_ON)
            await up.close()
        assert err.value.reason == "stream ended before its first byte"

    run(scenario())


def test_stream_timeouts(run: Run) -> None:
    async def scenario() -> None:
        async with Server(sse_reply(EVENTS, delay=0.6)) as srv:
            up = Upstream()
            p = provider(srv.url(), timeout=0.3)
            # No header in time: the attempt fails and may fall back.
            async with Server(lambda s, w: asyncio.sleep(2, True)) as mute:
                with pytest.raises(AttemptFailed) as err:
                    await up.open_stream(provider(mute.url(), 0.3), None, BODY, RETRY_ON)
                assert err.value.reason == "upstream timeout"
            # Headers come, then the first chunk is later than the read timeout.
            with pytest.raises(AttemptFailed) as err:
                await up.open_stream(p, None, BODY, RETRY_ON)
            assert err.value.reason == "stream broke before its first byte"
            assert isinstance(err.value.__cause__, TimeoutError)
            assert up.open_connections == 0
            await up.close()

    run(scenario())


def test_stream_read_timeout_is_per_read_not_total(run: Run) -> None:
    async def scenario() -> None:
        async with Server(sse_reply(EVENTS * 4, delay=0.1)) as srv:
            up = Upstream()
            stream, first = await up.open_stream(
                provider(srv.url(), timeout=0.4), None, BODY, RETRY_ON
            )
            # A consumer that lags longer than the timeout is not a silent provider.
            await asyncio.sleep(0.6)
            # 1.2 s in all, well past the 0.4 s timeout, but never 0.4 s without a byte.
            assert await drain(stream, first) == b"".join(EVENTS * 4)
            await up.close()

    run(scenario())


def test_stream_broken_mid_answer(run: Run) -> None:
    async def scenario() -> None:
        async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
            w.write(chunked(EVENTS[0])[: -len(b"0\r\n\r\n")])
            await w.drain()
            await asyncio.sleep(0.05)
            return False

        async with Server(reply) as srv:
            up = Upstream()
            stream, first = await up.open_stream(provider(srv.url()), None, BODY, RETRY_ON)
            assert first == EVENTS[0]
            with pytest.raises(ConnectionError):
                await stream.read()
            stream.close()
            assert up.open_connections == 0
            await up.close()

    run(scenario())


def test_stream_back_pressure_pauses_the_socket(run: Run) -> None:
    piece = b"x" * 65536
    total = 512  # 32 MiB: far more than the kernel's socket buffers hold
    sent: list[int] = [0]

    async def reply(seen: Seen, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
        w.write(f"Content-Length: {len(piece) * total}\r\n\r\n".encode())
        for _ in range(total):
            w.write(piece)
            await w.drain()
            sent[0] += 1
        return True

    async def scenario() -> None:
        async with Server(reply) as srv:
            up = Upstream()
            stream, first = await up.open_stream(provider(srv.url()), None, BODY, RETRY_ON)
            await asyncio.sleep(0.5)  # a slow client: read nothing for a while
            assert sent[0] < total  # the provider is held back ...
            # ... and we hold little: the high water plus what one socket read brought.
            assert stream.buffered <= STREAM_HIGH_WATER + 256 * 1024
            received = len(first)
            while chunk := await stream.read():
                received += len(chunk)
            stream.close()
            assert received == len(piece) * total
            assert up.idle_connections() == 1
            await up.close()

    run(scenario())


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tmp = tmp_path_factory.mktemp("tls")
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_provider(run: Run, cert: tuple[Path, Path]) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert)

    async def scenario() -> None:
        async with Server(answer(response()), tls=server_ctx) as srv:
            up = Upstream(ssl_context=ssl.create_default_context(cafile=str(cert[0])))
            p = provider(srv.url())
            assert p.base_url.startswith("https://")
            for _ in range(3):
                reply = await up.complete(p, "sk", BODY, RETRY_ON)
                assert reply.body == ANSWER
            stream, first = await up.open_stream(p, "sk", BODY, RETRY_ON)
            assert await drain(stream, first) == ANSWER
            await up.close()
            # The system's trust store does not know this certificate: the attempt fails.
            untrusting = Upstream()
            with pytest.raises(AttemptFailed) as err:
                await untrusting.complete(p, "sk", BODY, RETRY_ON)
            assert err.value.reason == "upstream connection failed: SSLCertVerificationError"
            await untrusting.close()
        assert srv.conns == 1  # one kept-alive connection; the refused handshake never got in

    run(scenario())


def test_side_traffic_session_is_aiohttp_and_lazy(run: Run) -> None:
    async def scenario() -> None:
        import aiohttp

        async with Server(answer(response())) as srv:
            up = Upstream()
            await up.complete(provider(srv.url()), None, BODY, RETRY_ON)
            assert up._session is None  # the request path made no aiohttp session
            async with up.session.post(srv.url("/hook"), data=b"{}") as resp:
                assert resp.status == 200
            assert isinstance(up.session, aiohttp.ClientSession)
            await up.close()

    run(scenario())
