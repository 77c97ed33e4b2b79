"""Issue 16 on the settlement side, one test per defect: no request can make a
settlement fail or drop other requests' counters (item 4), a stream is settled
before its last byte and a store that stalls (SIGSTOP) or dies (SIGKILL)
mid-stream loses no spend and counts none twice (item 12), a dead replica's
reservations are released within seconds (item 12), the credentials the gateway
injects never come back (item 8, LLM half), and a store that is down answers
503 JSON (item 10, store half).

Redis is a real redis-server of each test's own (it is stopped and killed), the
gateway a real uvicorn server on loopback, the clients httpx and redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.secrets import Secrets, StreamText
from gateway.store import BudgetKey, Denied, Reservation, Settlement, open_store
from gateway.store.base import RunState
from gateway.store.redis import RedisStore
from gateway.store.spill import Spill
from gateway.store.sqlite import SqliteStore
from tests.gateway import conftest as gw_fixtures
from tests.gateway.conftest import TOKENS, base_config
from tests.gateway.fakes import PROVIDER_KEY, FakeProvider, ServerThread, Step, free_port

globals().update({f: getattr(gw_fixtures, f) for f in ("provider", "fake", "redis_server")})

ALPHA = {"authorization": f"Bearer {TOKENS['alpha']}"}
# p1/m-main at $1 in, $2 out per million tokens, the fake's usage 11 in, 7 out.
COST = 11 * 1e-6 + 7 * 2e-6
BACKUP_COST = 11 * 0.5e-6 + 7 * 1e-6  # p2/m-backup


class OwnRedis:
    """A redis-server of the test's own, on one port and one data directory, that can
    be stopped, resumed, killed and started again (AOF fsynced on every write)."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run scripts/install-redis")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.time() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.02)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def gateway_on(
    store_url: str, provider_url: str, tmp_path: Path, **overrides: Any
) -> Iterator[tuple[str, Gateway]]:
    path = tmp_path / "gateway.json"
    path.write_bytes(orjson.dumps(base_config(provider_url, **overrides)))
    app = Gateway(ConfigHolder.from_file(path), open_store(store_url), watch_interval=0)
    with ServerThread(app, loop="uvloop") as server:
        yield server.url, app


def spent_in(client: redis.Redis) -> float:
    keys = client.keys("fleetgw:b:loop:alpha:*:spent")
    return sum(float(client.get(k) or 0) for k in keys)


def traces_in(client: redis.Redis) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"body"]) for _, f in client.xrange("fleetgw:traces")]


def spilled(directory: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in directory.rglob("*.spill"))


def stream_once(url: str, out: dict[str, Any], first: threading.Event) -> None:
    """One streamed completion; ``out`` gets the events and when the last byte came."""
    body = {"model": "main", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=ALPHA, timeout=30
    ) as resp:
        out["status"] = resp.status_code
        text = b""
        for chunk in resp.iter_bytes():
            text += chunk
            first.set()
        out["body"] = text
        out["done_at"] = time.monotonic()


def until(check: Any, timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_trace_orjson_refuses_still_settles_with_the_other_requests_counters(
    kind: str, tmp_path: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 4: ``x-fleet-step: 99999999999999999999`` made the settlement's encoding fail;
    the spend, the trace, the reservation's release and the counters batched with it
    (other requests' hits and steps) were lost. Any value a trace can hold settles."""
    monkeypatch.setenv("FLEET_GATEWAY_SPILL_DIR", str(tmp_path / "spill"))
    if kind == "redis":
        redis.Redis.from_url(redis_server).flushdb()
        store: Any = open_store(redis_server)
    else:
        store = open_store(f"sqlite:{tmp_path / 'gw.sqlite3'}")
    key = BudgetKey("loop:alpha:day:2026-12-01", 1.0, time.time() + 3600)
    try:
        # Another request counted a hit and a run step that ride on the next record.
        await store.hit("beta", 7)
        await store.run_step("beta", "run-b")
        held = await store.reserve([key], 0.9)
        assert isinstance(held, Reservation)
        tower: list[Any] = []
        for _ in range(300):  # past orjson's depth limit
            tower = [tower]
        bad = {
            "id": "t-bad",
            "ts": time.time(),
            "kind": "llm",
            "loop": "alpha",
            "step": 99999999999999999999,
            "nested": {1: "int key", "x": float("nan"), "deep": [[[[1 << 70]]]]},
            "tower": tower,
        }
        await store.settle(Settlement(held, 0.25, "alpha", 7, 30, "run-a", 30, bad))
        assert math.isclose(await store.spent(key.key), 0.25)
        # Released: the budget's remaining 0.75 can be reserved again.
        assert isinstance(await store.reserve([key], 0.75), Reservation)
        [trace] = [t for t in await store.query_traces() if t.get("id") == "t-bad"]
        assert trace["step"] == "<integer of 67 bits>"
        assert trace["nested"]["1"] == "int key" and trace["nested"]["x"] is None
        assert ".step" in trace["unserializable"]
        assert any(p.startswith(".tower[0]") for p in trace["unserializable"])
        assert await store.rate("alpha", 7) == (0, 30)
        if kind == "sqlite":
            # The batched counters went out with the bad trace's record.
            assert await store.rate("beta", 7) == (1, 0)
            await store.close()
            store = open_store(f"sqlite:{tmp_path / 'gw.sqlite3'}")
            assert await store.rate("beta", 7) == (1, 0)
            assert await store.run_step("beta", "run-b") == RunState(2, 0)
            assert math.isclose(await store.spent(key.key), 0.25)
    finally:
        await store.close()


# --------------------------------------------------------------------------- item 12: settle before the last byte


@pytest.mark.parametrize("fault", ["SIGSTOP", "SIGKILL"])
def test_streams_cut_off_from_redis_are_settled_before_their_last_byte_and_counted_once(
    fault: str,
    own_redis: OwnRedis,
    fake: FakeProvider,
    provider: tuple[FakeProvider, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 12: the stream's last byte went out before the settlement; with Redis stalled or
    killed then, the client had its answer and nothing was recorded. Now the last byte
    waits for a durable record (Redis, or the local journal when Redis does not answer),
    and once Redis is back every delivered stream is in it exactly once."""
    spill = tmp_path / "spill"
    monkeypatch.setenv("FLEET_GATEWAY_SPILL_DIR", str(spill))
    streams = 4
    fake.script("m-main", *[Step(chunks=6, chunk_delay=0.15) for _ in range(streams)])
    fake.script("m-backup", Step(delay=1.0))  # one non-streamed, served while Redis is away
    db = own_redis.client()
    with gateway_on(own_redis.url, provider[1], tmp_path) as (url, _app):
        outs: list[dict[str, Any]] = [{} for _ in range(streams)]
        first = threading.Event()
        threads = [threading.Thread(target=stream_once, args=(url, o, first)) for o in outs]
        plain: dict[str, Any] = {}

        def complete() -> None:
            r = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "backup", "messages": [{"role": "user", "content": "hi"}]},
                headers={**ALPHA, "x-fleet-cache": "off"},
                timeout=30,
            )
            plain.update(status=r.status_code, body=r.json(), done_at=time.monotonic())

        threads.append(threading.Thread(target=complete))
        for t in threads:
            t.start()
        assert first.wait(10)
        time.sleep(0.1)  # every request is past its reservation, mid-answer
        own_redis.signal(getattr(signal, fault))
        for t in threads:
            t.join(30)
        # Every client has its whole answer, and at that moment each is on record in the
        # local journal (Redis is away), before Redis comes back.
        for o in outs:
            assert o["status"] == 200
            assert o["body"].endswith(b"data: [DONE]\n\n"), o["body"][-200:]
        assert plain["status"] == 200 and plain["body"]["choices"]
        assert spilled(spill) == streams + 1
        if fault == "SIGSTOP":
            own_redis.signal(signal.SIGCONT)
        else:
            own_redis.start()
        expected = streams * COST + BACKUP_COST
        until(lambda: math.isclose(spent_in(db), expected, rel_tol=1e-9), 15)
        time.sleep(2.5)  # another replay pass: nothing more may be added
        assert math.isclose(spent_in(db), expected, rel_tol=1e-9), (spent_in(db), expected)
        served = [t for t in traces_in(db) if t.get("status") == 200]
        assert len(served) == streams + 1
        assert len({t["id"] for t in served}) == streams + 1
        assert until(lambda: spilled(spill) == 0, 5)
        # Nothing stays reserved: the budget's reservations are all released.
        assert not any(db.hlen(k) for k in db.keys("fleetgw:b:*:res"))


async def test_a_dead_replicas_local_journal_is_replayed_by_a_live_one_once(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    """Item 12: what a replica kept in its local journal and did not replay before it died
    is replayed by the next replica on the same journal folder, once, torn line skipped."""
    dead = RedisStore(own_redis.url, spill_dir=tmp_path / "spill")
    key = BudgetKey("loop:alpha:day:2026-12-01", 10.0, time.time() + 86400)
    held = await dead.reserve([key], 1.0)
    assert isinstance(held, Reservation)
    trace = {"id": "t-dead", "ts": time.time(), "kind": "llm", "loop": "alpha", "status": 200}
    entry = dead._entry(Settlement(held, 0.5, "alpha", 1, 40, None, 0, trace))
    journal = Spill(dead.spill_dir, "dead-replica")
    journal.append(entry)
    os.close(journal.fd)  # the replica dies: the kernel drops its lock
    with open(dead.spill_dir / "dead-replica.spill", "ab") as f:
        f.write(b'{"torn": ')
    await dead.close()
    live = RedisStore(own_redis.url, spill_dir=tmp_path / "spill")
    try:
        assert await live.replay() == 1
        assert await live.replay() == 0
        assert math.isclose(await live.spent(key.key), 0.5)
        assert [t["id"] for t in await live.query_traces()] == ["t-dead"]
        assert not list(live.spill_dir.glob("*.spill"))
        # Replayed again from a copy (a replica that died mid-replay): counted once.
        assert await live._replay_one(entry) == 1
        assert math.isclose(await live.spent(key.key), 0.5)
    finally:
        await live.close()


# --------------------------------------------------------------------------- item 12: leases

HOLDER = """
import asyncio, sys, time
from gateway.store import BudgetKey
from gateway.store.redis import RedisStore

async def main():
    store = RedisStore(sys.argv[1])
    key = BudgetKey("loop:small:day:2026-12-01", 1.0, time.time() + 86400)
    held = await store.reserve([key], 0.9)
    print(type(held).__name__, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_replicas_reservation_is_released_within_seconds(
    own_redis: OwnRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 12: a replica killed with reservations in flight held their budget for 600 s,
    locking a small-budget loop out. A live replica renews its leases (held past the
    lease while it lives); a killed one's lapse within seconds."""
    monkeypatch.setenv("FLEET_GATEWAY_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setenv("FLEET_GATEWAY_LEASE_S", "2")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, own_redis.url],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    store = RedisStore(own_redis.url)
    key = BudgetKey("loop:small:day:2026-12-01", 1.0, time.time() + 86400)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 20)
        assert line.strip() == b"Reservation"
        # Past one lease while the holder lives: renewed, still held.
        await asyncio.sleep(store.lease_s + 1)
        assert isinstance(await store.reserve([key], 0.5), Denied)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        while isinstance(got := await store.reserve([key], 0.5), Denied):
            assert time.monotonic() - killed < store.lease_s + 3, "the dead replica's lease held"
            await asyncio.sleep(0.2)
        assert isinstance(got, Reservation)
    finally:
        holder.kill()
        holder.wait()
        await store.close()


# --------------------------------------------------------------------------- item 8


class Echo:
    """A provider that echoes the key it was sent: in a 401 body, in a completion, and
    spelled across two stream events."""

    def __init__(self) -> None:
        self.mode = "401"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        key = dict(scope["headers"])[b"authorization"].decode().removeprefix("Bearer ")
        head = [(b"content-type", b"application/json")]
        if self.mode == "401":
            body = orjson.dumps({"error": {"message": f"Incorrect API key provided: {key}"}})
            await send({"type": "http.response.start", "status": 401, "headers": head})
            await send({"type": "http.response.body", "body": body})
            return
        if self.mode == "complete":
            data = {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": f"my key is {key}"}}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5},
            }
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": orjson.dumps(data)})
            return
        sse = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": sse})
        for part in ("the key: ", key[:6], key[6:], " and in one piece: " + key):
            event = {"choices": [{"index": 0, "delta": {"content": part}}]}
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + orjson.dumps(event) + b"\n\n",
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def test_the_provider_key_never_comes_back(tmp_path: Path, provider: Any) -> None:
    """Item 8: an upstream 401 whose body echoed the provider key was passed back verbatim;
    a completion or a stream repeating it went out too. The key is replaced everywhere
    the gateway passes text back, and in the trace."""
    echo = Echo()
    with ServerThread(echo) as up:
        store = f"sqlite:{tmp_path / 'gw.sqlite3'}"
        with gateway_on(store, up.url, tmp_path, guardrails={}) as (url, app):
            msg = {"model": "backup", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(f"{url}/v1/chat/completions", json=msg, headers=ALPHA, timeout=10)
            assert r.status_code == 401
            assert PROVIDER_KEY not in r.text and "[REDACTED:credential]" in r.text
            echo.mode = "complete"
            r = httpx.post(
                f"{url}/v1/chat/completions",
                json=msg,
                headers={**ALPHA, "x-fleet-cache": "off"},
                timeout=10,
            )
            assert r.status_code == 200
            assert r.json()["choices"][0]["message"]["content"] == "my key is [REDACTED:credential]"
            echo.mode = "stream"
            r = httpx.post(
                f"{url}/v1/chat/completions",
                json={**msg, "stream": True},
                headers=ALPHA,
                timeout=10,
            )
            assert r.status_code == 200
            text = "".join(
                (orjson.loads(line[6:])["choices"][0]["delta"].get("content") or "")
                for line in r.text.splitlines()
                if line.startswith("data: {")
            )
            assert PROVIDER_KEY not in r.text and PROVIDER_KEY[:6] not in text
            assert text == (
                "the key: [REDACTED:credential] and in one piece: [REDACTED:credential]"
            )
            traces = asyncio.run(_traces(tmp_path))
            assert traces and not any(PROVIDER_KEY in orjson.dumps(t).decode() for t in traces)
            assert isinstance(app.store, SqliteStore)


def test_a_stream_of_key_prefixes_is_held_back_within_a_bound() -> None:
    """Item 8, at no more than linear cost: events held while the text could be the start
    of a key are only those overlapping that start, however long the stream."""
    secrets = Secrets([PROVIDER_KEY])
    spelled = StreamText(secrets)
    sent = 0
    for _ in range(20_000):
        event = {"choices": [{"index": 0, "delta": {"content": PROVIDER_KEY[:4]}}]}
        sent += len(spelled.feed(b"data: " + orjson.dumps(event), event, PROVIDER_KEY[:4]))
        assert len(spelled.held) <= 2 and len(spelled.text) <= 2 * len(PROVIDER_KEY)
    assert sent + len(spelled.flush()) == 20_000


async def _traces(tmp_path: Path) -> list[dict[str, Any]]:
    reader = open_store(f"sqlite:{tmp_path / 'gw.sqlite3'}")
    try:
        return await reader.query_traces()
    finally:
        await reader.close()


# --------------------------------------------------------------------------- item 10


def test_a_store_that_is_down_answers_503_json_naming_it_without_its_password(
    tmp_path: Path, provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 10: with Redis unreachable, requests got plain-text 500s with a traceback."""
    monkeypatch.setenv("FLEET_GATEWAY_SPILL_DIR", str(tmp_path / "spill"))
    port = free_port()  # nothing listens there
    down = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
    with gateway_on(down, provider[1], tmp_path) as (url, _app):
        msg = {"model": "main", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{url}/v1/chat/completions", json=msg, headers=ALPHA, timeout=10)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "store_unavailable"
        assert f"redis://127.0.0.1:{port}/0" in error["message"]
        assert "hunter2" not in r.text and "Traceback" not in r.text
        assert asyncio.run(_healthy(down)) is False


async def _healthy(url: str) -> bool:
    store = RedisStore(url)
    try:
        return await store.healthy()
    finally:
        await store.close()
