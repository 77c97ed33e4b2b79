"""Budgets of a SQLite store with two gateway processes on one file: the second gateway
refuses to start (exit 2, one line naming Redis), so no two processes each hold
reservations alone and overspend together. 64 concurrent callers against a small budget
on the one that serves spend nothing past it; after a ``kill -9`` the store is free at
once (its reservations died with it: nothing stays in flight), the next gateway starts,
and the counters survived.

Real gateway processes (``python -m gateway``) on loopback, the fake provider of the
gateway tests, the official openai client; the store read back with ``fleetctl cost``'s
reader.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from fleet.economics import USEFUL
from gateway.store import open_store
from gateway.store.base import StoreInUse
from gateway.store.sqlite import STORE_WAIT_ENV, SqliteStore
from tests.gateway import conftest as gw_fixtures
from tests.gateway.conftest import TOKENS, base_config
from tests.gateway.fakes import FakeProvider, Step, free_port

globals().update({f: getattr(gw_fixtures, f) for f in ("provider", "fake")})

LIMIT = 0.001  # USD a day for loop alpha
COST = 11 * 1e-6 + 7 * 2e-6  # one call of 'main' (the fake's 11 in, 7 out)
CALLERS = 64


def start(config: Path, store: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "gateway", "--config", str(config)),
            "--port",
            str(port),
            "--store",
            store,
        ],
        env={**os.environ, "TEST_PROVIDER_KEY": "sk-test-provider-key", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def ready(proc: subprocess.Popen[bytes], port: int, within: float = 30.0) -> None:
    deadline = time.time() + within
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        assert time.time() < deadline, "the gateway did not become ready"
        time.sleep(0.05)


def call(port: int, text: str) -> int:
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=TOKENS["alpha"], max_retries=0, timeout=60
    )
    try:
        client.chat.completions.create(
            model="main", max_tokens=10, messages=[{"role": "user", "content": text}]
        )
    except openai.APIStatusError as exc:
        return exc.status_code
    except openai.APIConnectionError:
        return 0  # the gateway was killed under the request
    return 200


def spent(path: Path) -> float:
    """Loop alpha's spend from its per-call records, journal included (as fleetctl reads)."""

    async def read() -> float:
        store = SqliteStore(path, migrate=False)
        try:
            groups = await store.read_report(0.0, lambda r: r.call_groups(0.0, "loop", USEFUL))
        finally:
            await store.close()
        return sum(g["cost_usd"] for g in groups if g["key"] == "alpha")

    return asyncio.run(read())


@pytest.fixture
def setup(provider: tuple[FakeProvider, str], tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    cfg = base_config(provider[1])
    cfg["loops"]["alpha"]["budget"] = {"limit_usd": LIMIT, "window": "day"}
    cfg["caching"] = {"type": "none"}
    config = tmp_path / "gw.json"
    config.write_bytes(orjson.dumps(cfg))
    path = tmp_path / "gw.sqlite3"
    yield config, f"sqlite:{path}", path


def test_a_second_gateway_on_one_sqlite_file_is_refused_and_budgets_hold(
    setup: tuple[Path, str, Path], fake: FakeProvider
) -> None:
    config, store, path = setup
    first_port, second_port = free_port(), free_port()
    first = start(config, store, first_port)
    second: subprocess.Popen[bytes] | None = None
    try:
        ready(first, first_port)
        refused = start(config, store, second_port, **{STORE_WAIT_ENV: "1"})
        _, err = refused.communicate(timeout=30)
        lines = err.decode().strip().splitlines()
        assert refused.returncode == 2, err
        assert len(lines) == 1 and "Traceback" not in err.decode()
        assert lines[0].startswith("gateway: error: the SQLite store ")
        assert f"in use by process {first.pid} (writer)" in lines[0]
        assert "redis://" in lines[0]

        # 64 callers at once against the budget of the one gateway that serves.
        codes: list[int] = []
        lock = threading.Lock()

        def caller(i: int) -> None:
            for n in range(10):
                code = call(first_port, f"caller {i} call {n}")
                with lock:
                    codes.append(code)
                if code != 200:
                    return

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert set(codes) <= {200, 429} and 429 in codes, sorted(set(codes))
        served = codes.count(200)
        total = spent(path)
        assert total == pytest.approx(served * COST)
        assert total <= LIMIT + 1e-12  # no overspend
        assert total > LIMIT / 2  # and the budget was used, not refused from the start

        # Requests in flight hold reservations when the gateway is killed.
        fake.script("m-main", *[Step(delay=10.0)] * 4)
        slow = [threading.Thread(target=call, args=(first_port, f"slow {i}")) for i in range(4)]
        for t in slow:
            t.start()
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()

        # The store is free at once: the next gateway starts without waiting out anything.
        second = start(config, store, second_port, **{STORE_WAIT_ENV: "1"})
        ready(second, second_port)
        assert time.monotonic() - killed_at < 15
        fake.scripts.clear()
        assert spent(path) == pytest.approx(total)  # the counters survived kill -9
        response = httpx.post(
            f"http://127.0.0.1:{second_port}/v1/chat/completions",
            headers={"authorization": f"Bearer {TOKENS['alpha']}"},
            json={
                "model": "main",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "x"}],
            },
            timeout=30,
        )
        error = response.json()["error"]
        assert response.status_code == 429 and error["code"] == "budget_exceeded", response.text
        # The killed gateway's reservations died with it: nothing is held in flight.
        found = re.search(r"\$([0-9.]+) spent, \$([0-9.]+) in flight", error["message"])
        assert found is not None, error["message"]
        assert float(found[1]) == pytest.approx(total, abs=1e-4) and float(found[2]) == 0.0
        for t in slow:
            t.join(timeout=60)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


async def test_a_gateway_waits_for_the_store_to_be_let_go_then_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gw.sqlite3"
    url = f"sqlite:{path}"
    monkeypatch.setenv(STORE_WAIT_ENV, "0.3")
    holder = open_store(url)  # a gateway of this process: it owns the journal
    try:
        with pytest.raises(StoreInUse) as refused:
            open_store(url, exclusive=True)
        assert f"in use by process {os.getpid()} (writer)" in str(refused.value)
        assert "redis://" in refused.value.hint
    finally:
        await holder.close()
    # A reader (fleetctl cost) that owns it for a moment is waited for, not refused.
    monkeypatch.setenv(STORE_WAIT_ENV, "10")
    reader = open_store(url, create=False)
    assert isinstance(reader, SqliteStore) and reader.journal is not None
    closing = threading.Timer(0.3, lambda: asyncio.run(reader.close()))
    closing.start()
    started = time.monotonic()
    gateway = open_store(url, exclusive=True)
    try:
        assert isinstance(gateway, SqliteStore) and gateway.journal is not None
        assert 0.2 < time.monotonic() - started < 5
    finally:
        closing.join()
        await gateway.close()
