"""``kill -9`` of a gateway process loses no settled spend and no trace; ``fleetctl cost`` rolls them up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from typer.testing import CliRunner

from fleetctl.cli import app as cli
from gateway.store import open_store
from gateway.windows import window
from tests.gateway.conftest import TOKENS, base_config
from tests.gateway.fakes import FakeProvider, free_port


async def state(url: str, key: str) -> tuple[float, list[dict[str, object]]]:
    store = open_store(url)
    try:
        return await store.spent(key), await store.query_traces()
    finally:
        await store.close()


def test_kill_9_loses_nothing(
    provider: tuple[FakeProvider, str], fake: FakeProvider, store_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "gw.json"
    config.write_bytes(orjson.dumps(base_config(provider[1])))
    port = free_port()
    env = {**os.environ, "TEST_PROVIDER_KEY": "sk-test-provider-key"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "--config",
            str(config),
            "--port",
            str(port),
            "--store",
            store_url,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline, (
                proc.stderr.read().decode() if proc.stderr else ""
            )
            time.sleep(0.05)
        c = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=TOKENS["alpha"], max_retries=0
        )
        for i in range(20):
            c.chat.completions.create(
                model="main",
                messages=[{"role": "user", "content": f"k{i}"}],
                extra_headers={"x-fleet-run-id": "run-k"},
            )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    key = f"loop:alpha:{window('day', 'Europe/Berlin', time.time())[0]}"
    spent, recorded = asyncio.run(state(store_url, key))
    assert len(recorded) == 20
    assert (
        spent
        == pytest.approx(sum(float(t["cost_usd"]) for t in recorded))
        == pytest.approx(20 * (11 * 1e-6 + 7 * 2e-6))
    )  # type: ignore[arg-type]
    if store_url.startswith("sqlite:"):
        result = CliRunner().invoke(
            cli, ["cost", "--store", store_url, "--by", "loop", "--since", "1h", "-o", "json"]
        )
        (row,) = json.loads(result.stdout)
        assert (row["key"], row["requests"], row["tokens_in"], row["tokens_out"]) == (
            "alpha",
            20,
            220,
            140,
        )
        table = CliRunner().invoke(cli, ["cost", "--store", store_url, "--by", "team"])
        assert table.exit_code == 0 and table.stdout.splitlines()[1].startswith("platform")
