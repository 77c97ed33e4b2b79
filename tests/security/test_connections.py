"""Issue 16 item 6 (connections) and item 8 (the tokens file), over a real uvicorn
gateway on a loopback port, served exactly as ``fleetctl gateway serve`` serves it
(:func:`gateway.server.uvicorn_config`), with raw sockets for the hostile clients:

- a connection that sends nothing, a head sent a byte per 0.2 s, a kept-alive
  connection left idle and a declared body never sent are each closed within their
  deadline (408 JSON where a request had begun), and ``/healthz`` answers meanwhile;
- a body that keeps making progress is not cut, and a handler waiting on a body
  that stalls is told the client left;
- a body trickled under the minimum rate (a byte every 0.1 s never stalls) gets 408
  ``body_too_slow`` after its window, freeing its token's request slot, while a body
  just over the rate across many windows, with a pause in the middle, is read to its end;
- a head over the size limit gets 431 JSON at once, complete or still arriving;
- one token gets at most K requests in flight: the next gets 429
  ``too_many_connections`` at once, while other tokens and ``/healthz`` go on;
- at the connection cap idle connections make room, and when none is idle a new
  connection gets 503 ``server_busy``;
- the limits come from flags, then ``FLEET_GATEWAY_*``, then defaults, and a bad
  value is one line and exit 2;
- ``gateway config`` writes the tokens file 0600 from its first byte, under a new
  inode (a reader of the old file never sees the new tokens) and never through a
  symlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from typer.testing import CliRunner

from fleetctl.cli import app as cli
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.limits import Limits
from gateway.server import uvicorn_config
from gateway.store import open_store
from tests.gateway import conftest as gw
from tests.gateway.conftest import TOKENS, base_config
from tests.gateway.fakes import FakeProvider, Step, free_port

# The gateway tests' provider fixtures, registered here (tests/gateway is not a parent).
globals().update({f: getattr(gw, f) for f in ("provider", "fake")})

FAST = Limits(
    header_timeout=1.0,
    body_timeout=0.6,
    keepalive_timeout=0.5,
    max_header_bytes=2048,
    max_connections=256,
    max_requests_per_token=2,
)
# Each deadline is checked with this much slack for a loaded machine: the point is that
# the server closes the connection at all, not how punctually.
SLACK = 2.5
ROOT = Path(__file__).resolve().parents[2]


class Served:
    """A uvicorn server for ``app`` under ``limits``, in a thread, on a free port."""

    def __init__(self, app: Any, limits: Limits):
        self.port = free_port()
        config = uvicorn_config(app, limits, port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve(
    provider: tuple[FakeProvider, str], tmp_path: Path
) -> Callable[..., contextlib.AbstractContextManager[Served]]:
    @contextlib.contextmanager
    def start(limits: Limits = FAST) -> Iterator[Served]:
        path = tmp_path / "gateway.json"
        path.write_bytes(orjson.dumps(base_config(provider[1], **{"caching.type": "none"})))
        app = Gateway(
            ConfigHolder.from_file(path),
            open_store(f"sqlite:{tmp_path / 'gw.sqlite3'}"),
            watch_interval=0.05,
        )
        with Served(app, limits) as served:
            yield served

    return start


async def opened(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[float, bytes]:
    """Everything the server sends until it closes, and how long that took; fails if the
    server still holds the connection after ``within`` seconds."""
    start = time.monotonic()
    data = b""
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                data += chunk
    except TimeoutError:
        pytest.fail(f"the server held the connection for over {within} s; it sent {data[:200]!r}")
    except ConnectionError:
        pass
    return time.monotonic() - start, data


async def response(reader: asyncio.StreamReader) -> bytes:
    """One response's head off a kept-alive connection, its body read past."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SLACK)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r")[0])
    await reader.readexactly(length)
    return head


def reply(data: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the one response in ``data``."""
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


@contextlib.asynccontextmanager
async def health_checked(served: Served) -> AsyncIterator[list[int]]:
    """Polls ``/healthz`` every 0.1 s on fresh connections while the block runs."""
    statuses: list[int] = []

    async def poll() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
            while True:
                r = await client.get("/healthz", headers={"connection": "close"})
                statuses.append(r.status_code)
                await asyncio.sleep(0.1)

    task = asyncio.create_task(poll())
    try:
        yield statuses
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert statuses and set(statuses) == {200}, statuses


def chat_head(token: str, length: int) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + token.encode() + b"\r\ncontent-length: %d\r\n\r\n" % length
    )


def chat_body(content: str) -> bytes:
    return orjson.dumps({"model": "main", "messages": [{"role": "user", "content": content}]})


async def test_idle_connections_are_closed_at_the_header_deadline(serve: Any) -> None:
    with serve() as served:
        async with health_checked(served):
            conns = [await opened(served) for _ in range(40)]
            results = await asyncio.gather(
                *(until_closed(r, FAST.header_timeout + SLACK) for r, _ in conns)
            )
        for _, data in results:
            assert data == b""  # nothing was asked: closed without a word
        for _, w in conns:
            w.close()


async def test_a_head_sent_a_byte_at_a_time_gets_408_at_the_deadline(serve: Any) -> None:
    head = b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-slow: " + b"a" * 200 + b"\r\n\r\n"

    async def slowloris() -> tuple[float, bytes]:
        reader, writer = await opened(served)

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        result = await until_closed(reader, FAST.header_timeout + SLACK)
        dripping.cancel()
        writer.close()
        return result

    with serve() as served:
        async with health_checked(served):
            results = await asyncio.gather(*(slowloris() for _ in range(20)))
    for took, data in results:
        status, body = reply(data)
        assert (status, body["error"]["code"]) == (408, "header_timeout")
        assert took < FAST.header_timeout + SLACK


async def test_a_kept_alive_connection_left_idle_is_closed(serve: Any) -> None:
    with serve() as served:
        reader, writer = await opened(served)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
        assert (await response(reader)).startswith(b"HTTP/1.1 200")
        _, data = await until_closed(reader, FAST.keepalive_timeout + SLACK)
        assert data == b""
        writer.close()


async def test_a_busy_kept_alive_connection_outlives_the_deadlines(serve: Any) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n"
    with serve() as served:
        reader, writer = await opened(served)
        start = time.monotonic()
        answered = 0
        # requests 0.3 s apart for 2.5 times the header deadline, two of them pipelined
        while time.monotonic() - start < FAST.header_timeout * 2.5:
            writer.write(request * 2 if answered == 3 else request)
            for _ in range(2 if answered == 3 else 1):
                head = await response(reader)
                assert head.startswith(b"HTTP/1.1 200"), head
                answered += 1
            await asyncio.sleep(0.3)
        writer.close()
    assert answered >= 8


async def test_a_declared_body_never_sent_gets_408_and_close(
    serve: Any, fake: FakeProvider
) -> None:
    body = chat_body("hello")
    with serve() as served:
        async with health_checked(served):
            conns = [await opened(served) for _ in range(20)]
            for i, (_, writer) in enumerate(conns):
                # a distinct token each: the per-token cap is not what closes these
                writer.write(chat_head(f"nobody-{i}", len(body)) + body[:10])
            results = await asyncio.gather(
                *(until_closed(r, FAST.body_timeout + SLACK) for r, _ in conns)
            )
            # the loop's own token: it passes authentication and waits on the body
            reader, writer = await opened(served)
            writer.write(chat_head(TOKENS["alpha"], len(body)) + body[:10])
            results.append(await until_closed(reader, FAST.body_timeout + SLACK))
    for took, data in results[:-1]:
        # an unknown token is refused before the body is read; then the body deadline
        assert data.startswith(b"HTTP/1.1 401"), data[:100]
        assert took < FAST.body_timeout + SLACK
    took, data = results[-1]
    status, err = reply(data)
    assert (status, err["error"]["code"]) == (408, "body_timeout")
    assert fake.seen == []


async def test_a_body_that_keeps_coming_is_not_cut(serve: Any, fake: FakeProvider) -> None:
    body = chat_body("a slow but steady client")
    with serve() as served:
        reader, writer = await opened(served)
        writer.write(chat_head(TOKENS["alpha"], len(body)))
        pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
        for piece in pieces:  # about 2 s in all, 0.15 s apart: past the 0.6 s deadline
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.15)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        writer.close()
    assert len(pieces) * 0.15 > FAST.body_timeout * 2
    assert len(fake.seen) == 1


# The body timeout far off, so only the rate can cut a trickle; windows of 0.5 s.
RATE = dataclasses.replace(FAST, body_timeout=20.0, min_body_rate=1000, body_rate_window=0.5)


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float, size: int = 1) -> None:
    with contextlib.suppress(ConnectionError):
        for i in range(0, len(data), size):
            writer.write(data[i : i + size])
            await writer.drain()
            await asyncio.sleep(every)


async def test_a_trickled_body_gets_408_body_too_slow(serve: Any, fake: FakeProvider) -> None:
    body = chat_body("a byte every tenth of a second")
    with serve(RATE) as served:
        async with health_checked(served):
            started = time.monotonic()
            conns = [await opened(served) for _ in range(2)]  # both of the token's slots
            for _, w in conns:
                w.write(chat_head(TOKENS["alpha"], len(body)))
            drips = [asyncio.create_task(trickle(w, body, 0.1)) for _, w in conns]
            results = await asyncio.gather(
                *(until_closed(r, RATE.body_rate_window + SLACK) for r, _ in conns)
            )
            took = time.monotonic() - started
            for task in drips:
                task.cancel()
            for _, w in conns:
                w.close()
            # the slots are free again: the same token is served at once
            async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
                after = await client.post(
                    "/v1/chat/completions",
                    content=chat_body("after"),
                    headers={"authorization": f"Bearer {TOKENS['alpha']}"},
                )
    for _, data in results:
        status, err = reply(data)
        assert (status, err["error"]["code"]) == (408, "body_too_slow")
        assert "under the gateway's minimum of 1000 bytes/s" in err["error"]["message"]
    assert took < RATE.body_rate_window + SLACK
    assert after.status_code == 200, after.text
    assert [m["messages"][0]["content"] for m in fake.seen] == ["after"]


async def test_a_body_just_over_the_minimum_rate_is_read_to_its_end(
    serve: Any, fake: FakeProvider
) -> None:
    body = chat_body("x" * 3000)
    with serve(RATE) as served:
        reader, writer = await opened(served)
        writer.write(chat_head(TOKENS["alpha"], len(body)))
        started = time.monotonic()
        # 100 bytes every 0.05 s, ~2,000 bytes/s, for ~0.75 s; a pause of 1.3 s (a stall
        # is the body timeout's, 20 s here); the rest as before: three windows and more
        half = len(body) // 2
        await trickle(writer, body[:half], 0.05, 100)
        await asyncio.sleep(1.3)
        await trickle(writer, body[half:], 0.05, 100)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SLACK)
        took = time.monotonic() - started
        writer.close()
    assert head.startswith(b"HTTP/1.1 200"), head
    assert took > RATE.body_rate_window * 5
    assert len(fake.seen) == 1


async def test_a_handler_waiting_on_a_stalled_body_is_told_the_client_left() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    with Served(app, FAST) as served:
        reader, writer = await opened(served)
        writer.write(b"POST /x HTTP/1.1\r\nhost: gw\r\ncontent-length: 100\r\n\r\n0123456789")
        _, data = await until_closed(reader, FAST.body_timeout + SLACK)
        writer.close()
        for _ in range(100):
            if seen and seen[-1]["type"] == "http.disconnect":
                break
            await asyncio.sleep(0.02)
    status, err = reply(data)
    assert (status, err["error"]["code"]) == (408, "body_timeout")
    assert seen[0] == {"type": "http.request", "body": b"0123456789", "more_body": True}
    assert seen[-1] == {"type": "http.disconnect"}


async def test_an_oversized_head_gets_431_at_once(serve: Any) -> None:
    with serve() as served:
        async with health_checked(served):
            reader, writer = await opened(served)
            writer.write(
                b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-big: " + b"a" * 3000 + b"\r\n\r\n"
            )
            _, whole = await until_closed(reader, SLACK)
            writer.close()

            # one header that never ends, arriving in pieces: refused once past the limit
            reader, writer = await opened(served)
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-big: ")
            for _ in range(21):  # the 21st piece takes the head past 2048 bytes
                writer.write(b"a" * 100)
                await writer.drain()
                await asyncio.sleep(0.01)
            took_partial, partial = await until_closed(reader, SLACK)
            writer.close()

            # just under the limit is served
            async with httpx.AsyncClient(base_url=served.url) as client:
                ok = await client.get("/healthz", headers={"x-fill": "a" * 1800})
    for data in (whole, partial):
        status, err = reply(data)
        assert (status, err["error"]["code"]) == (431, "headers_too_large")
    assert took_partial < FAST.header_timeout  # not the header deadline: the size
    assert ok.status_code == 200


async def test_a_request_that_is_not_http_gets_a_json_400(serve: Any) -> None:
    with serve() as served:
        reader, writer = await opened(served)
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
        _, data = await until_closed(reader, SLACK)
        writer.close()
    status, err = reply(data)
    assert (status, err["error"]["code"]) == (400, "invalid_http")


async def test_one_token_holds_at_most_k_requests(serve: Any, fake: FakeProvider) -> None:
    fake.script("m-main", Step(delay=1.5), Step(delay=1.5))
    with serve() as served:
        async with (
            health_checked(served),
            httpx.AsyncClient(base_url=served.url, timeout=10) as client,
        ):

            def chat(token: str, content: str, scheme: str = "Bearer ") -> Any:
                return client.post(
                    "/v1/chat/completions",
                    content=chat_body(content),
                    headers={"authorization": scheme + token},
                )

            held = [
                asyncio.create_task(chat(TOKENS["alpha"], f"held {i}", scheme))
                for i, scheme in enumerate(("Bearer ", "bearer  "))
            ]
            while len(fake.seen) < 2:
                await asyncio.sleep(0.01)
            # the same token spelled another way is the same token
            over = await chat(TOKENS["alpha"], "one too many", "BEARER   ")
            assert not any(t.done() for t in held)  # refused at once, not queued behind them
            other = await client.post(
                "/v1/chat/completions",
                content=orjson.dumps(
                    {"model": "backup", "messages": [{"role": "user", "content": "beta"}]}
                ),
                headers={"authorization": f"Bearer {TOKENS['beta']}"},
            )
            done = await asyncio.gather(*held)
            after = await chat(TOKENS["alpha"], "after")
    assert over.status_code == 429
    assert over.headers["retry-after"] == "1"
    error = over.json()["error"]
    assert error["code"] == "too_many_connections"
    assert TOKENS["alpha"] not in over.text
    assert other.status_code == 200, other.text
    assert [r.status_code for r in done] == [200, 200]
    assert after.status_code == 200
    assert len(fake.seen) == 4  # the refused request never reached the provider


async def test_at_the_connection_cap_idle_connections_make_room(
    serve: Any, fake: FakeProvider
) -> None:
    limits = Limits(
        header_timeout=5.0,
        body_timeout=5.0,
        keepalive_timeout=5.0,
        max_header_bytes=4096,
        max_connections=6,
        max_requests_per_token=6,
    )
    fake.script("m-main", *(Step(delay=1.5) for _ in range(6)))
    with serve(limits) as served:
        idle = [await opened(served) for _ in range(6)]
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            health = await client.get("/healthz", headers={"connection": "close"})
        # the oldest idle connection made room for it
        _, data = await until_closed(idle[0][0], SLACK)
        assert data == b""

        async with httpx.AsyncClient(
            base_url=served.url, timeout=10, limits=httpx.Limits(max_connections=6)
        ) as client:
            held = [
                asyncio.create_task(
                    client.post(
                        "/v1/chat/completions",
                        content=chat_body(f"held {i}"),
                        headers={"authorization": f"Bearer {TOKENS['alpha']}"},
                    )
                )
                for i in range(6)
            ]
            while len(fake.seen) < 6:
                await asyncio.sleep(0.01)
            reader, writer = await opened(served)
            _, busy = await until_closed(reader, SLACK)
            writer.close()
            done = await asyncio.gather(*held)
        for _, w in idle:
            w.close()
    assert health.status_code == 200
    status, err = reply(busy)
    assert (status, err["error"]["code"]) == (503, "server_busy")
    assert [r.status_code for r in done] == [200] * 6


def test_limits_come_from_flags_then_env_then_defaults() -> None:
    defaults = Limits.resolve(env={})
    assert (defaults.header_timeout, defaults.body_timeout, defaults.keepalive_timeout) == (
        10.0,
        30.0,
        5.0,
    )
    assert defaults.max_header_bytes == 32768
    assert 16 <= defaults.max_connections <= 4096
    assert defaults.max_requests_per_token == defaults.max_connections // 4
    env = {"FLEET_GATEWAY_BODY_TIMEOUT": "2.5", "FLEET_GATEWAY_MAX_CONNECTIONS": "100"}
    from_env = Limits.resolve(env=env, max_connections=40)
    assert from_env.body_timeout == 2.5
    assert from_env.max_connections == 40  # the flag wins
    assert from_env.max_requests_per_token == 10
    with pytest.raises(ValueError, match=r"FLEET_GATEWAY_HEADER_TIMEOUT='soon': not a number"):
        Limits.resolve(env={"FLEET_GATEWAY_HEADER_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match=r"body-timeout -1\.0: must be over 0"):
        Limits.resolve(env={}, body_timeout=-1.0)
    assert (defaults.min_body_rate, defaults.body_rate_window) == (1024, 5.0)
    rate = Limits.resolve(
        env={"FLEET_GATEWAY_MIN_BODY_RATE": "0", "FLEET_GATEWAY_BODY_RATE_WINDOW": "2"},
        body_rate_window=3.0,
    )
    assert (rate.min_body_rate, rate.body_rate_window) == (0, 3.0)  # 0: the check is off
    with pytest.raises(ValueError, match=r"FLEET_GATEWAY_MIN_BODY_RATE='1k': not a whole number"):
        Limits.resolve(env={"FLEET_GATEWAY_MIN_BODY_RATE": "1k"})
    with pytest.raises(ValueError, match=r"min-body-rate -1: must be between 0 \(off\)"):
        Limits.resolve(env={}, min_body_rate=-1)


def test_a_bad_limit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.json"
    cfg.write_text("{}")
    env = {**os.environ, "FLEET_GATEWAY_MAX_HEADER_BYTES": "lots"}
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "gateway: error: FLEET_GATEWAY_MAX_HEADER_BYTES='lots': not a whole number"
    ]
    result = CliRunner().invoke(
        cli, ["gateway", "serve", "--config", str(cfg), "--header-timeout", "0"]
    )
    assert result.exit_code == 2
    assert "header-timeout 0.0: must be over 0" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        cli, ["gateway", "serve", "--config", str(cfg), "--body-rate-window", "0"]
    )
    assert result.exit_code == 2
    assert "body-rate-window 0.0: must be over 0" in result.output
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(cfg), "--min-body-rate", "-5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "gateway: error: connection limits: min-body-rate -5: must be between 0 (off) and "
        "1073741824 bytes per second"
    ]


def _config(fleet: Path, tokens: Path) -> Any:
    return CliRunner().invoke(
        cli,
        [
            "gateway",
            "config",
            str(fleet),
            "--out",
            str(fleet.parent / "gateway.json"),
            "--tokens-out",
            str(tokens),
            "--approver",
            "alice",
        ],
    )


def test_the_tokens_file_is_private_from_its_first_byte(base_fleet: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{}\n")
    tokens.chmod(0o644)
    # someone who could read the old file keeps it open across the run
    with tokens.open() as old_reader:
        result = _config(base_fleet, tokens)
        assert result.exit_code == 0, result.output
        assert old_reader.read() == "{}\n"  # the new tokens went to a new file, not this one
    assert tokens.stat().st_mode & 0o777 == 0o600
    minted = json.loads(tokens.read_text())
    assert "approver:alice" in minted and len(minted) >= 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a second run keeps the tokens it finds
    assert _config(base_fleet, tokens).exit_code == 0
    assert json.loads(tokens.read_text()) == minted


def test_the_tokens_file_is_never_written_through_a_symlink(
    base_fleet: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("{}\n")
    target.chmod(0o644)
    link = tmp_path / "tokens.json"
    link.symlink_to(target)
    result = _config(base_fleet, link)
    assert result.exit_code == 2
    assert "is a symbolic link" in result.output
    assert target.read_text() == "{}\n"
    assert link.is_symlink()


def test_the_tokens_file_goes_into_a_directory_made_for_it(
    base_fleet: Path, tmp_path: Path
) -> None:
    tokens = tmp_path / "build" / "secrets" / "tokens.json"  # neither directory exists yet
    result = _config(base_fleet, tokens)
    assert result.exit_code == 0, result.output
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert "approver:alice" in json.loads(tokens.read_text())
