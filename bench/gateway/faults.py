"""Store faults under streaming load: streams delivered against streams recorded.

A gateway on a Redis store relays long streams (the mock's ``relay`` answers:
200 chunks 10 ms apart) to ``--streams`` clients in a loop. Mid-run Redis is
stalled (SIGSTOP for ``--stall`` seconds, then SIGCONT), later killed (SIGKILL)
and started again on its append-only file. Once the load stops and the
gateway's local journal has been replayed, the figures compare what the
clients received with what the store holds: streams delivered whole, their
traces in Redis (unique and duplicated), the spend recorded against what those
streams cost, and what the faults turned away (503s while Redis was down).

Run: ``.venv/bin/python bench/gateway/faults.py [--streams 40] [--duration 14] [--stall 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import redis

HERE = Path(__file__).resolve().parent
PY = sys.executable
TOKEN = "bench-token"
# The mock's usage block (12 in, 8 out) at the config's prices ($0.25 and $2 per million).
STREAM_COST = 12 * 0.25e-6 + 8 * 2.0e-6
BODY = {
    "model": "main",
    "stream": True,
    "user": "relay",
    "messages": [{"role": "user", "content": "a long answer, please"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early: {proc.args}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} did not open: {proc.args}")


class Redis:
    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (scripts/install-redis)")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
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
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def config(tmp: Path, mock_url: str) -> Path:
    cfg = {
        "fleet": "bench",
        "providers": {"mock": {"base_url": mock_url + "/v1", "timeout_s": 30}},
        "models": {"main": {"targets": [{"provider": "mock", "model": "m-main"}]}},
        "pricing": {"mock/m-main": {"input": 0.25, "output": 2.0}},
        "caching": {"type": "none"},
        "loops": {
            "bench-loop": {
                "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()],
                "models": ["main"],
                "owner": "bench",
                "team": "bench",
                "stage": "production",
                "budget": {"limit_usd": 1e9, "window": "day"},
                "rate_limits": {"requests_per_minute": 10**9, "tokens_per_minute": 10**12},
                "harness": {"max_steps": 10**12, "max_tokens_per_run": 10**15},
            }
        },
    }
    path = tmp / "gateway.json"
    path.write_text(json.dumps(cfg))
    return path


async def client(url: str, stop_at: float, stats: collections.Counter[str]) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=60) as http:
        while time.monotonic() < stop_at:
            try:
                async with http.stream(
                    "POST", f"{url}/v1/chat/completions", json=BODY, headers=headers
                ) as resp:
                    data = b"".join([c async for c in resp.aiter_bytes()])
            except httpx.HTTPError as exc:
                stats[f"client errors ({exc.__class__.__name__})"] += 1
                await asyncio.sleep(0.05)
                continue
            if resp.status_code == 200 and data.endswith(b"data: [DONE]\n\n"):
                stats["delivered"] += 1
            elif resp.status_code == 200:
                stats["broken in-band"] += 1
            else:
                stats[f"refused {resp.status_code}"] += 1
                await asyncio.sleep(0.05)


async def faults(store: Redis, duration: float, stall: float, log: list[str]) -> None:
    t0 = time.monotonic()
    assert store.proc is not None
    await asyncio.sleep(duration * 0.25)
    store.proc.send_signal(signal.SIGSTOP)
    log.append(f"{time.monotonic() - t0:5.1f} s  SIGSTOP redis for {stall:g} s")
    await asyncio.sleep(stall)
    store.proc.send_signal(signal.SIGCONT)
    log.append(f"{time.monotonic() - t0:5.1f} s  SIGCONT")
    await asyncio.sleep(max(0.0, duration * 0.6 - (time.monotonic() - t0)))
    store.proc.send_signal(signal.SIGKILL)
    store.proc.wait()
    log.append(f"{time.monotonic() - t0:5.1f} s  SIGKILL redis, started again 2 s later")
    await asyncio.sleep(2.0)
    store.start()


def recorded(db: redis.Redis) -> tuple[int, int, float]:
    """(served stream traces, distinct ids among them, spend) in Redis."""
    ids = [
        t.get("id")
        for t in (orjson.loads(f[b"body"]) for _, f in db.xrange("fleetgw:traces"))
        if t.get("status") == 200 and t.get("stream")
    ]
    spend = sum(float(db.get(k) or 0) for k in db.keys("fleetgw:b:loop:bench-loop:*:spent"))
    return len(ids), len(set(ids)), spend


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="fleet-faults-"))
    (tmp / "redis").mkdir()
    store = Redis(tmp / "redis")
    store.start()
    mock_port, gw_port = free_port(), free_port()
    env = {**os.environ, "FLEET_GATEWAY_SPILL_DIR": str(tmp / "spill")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        mock = subprocess.Popen([PY, str(HERE / "mock.py"), str(mock_port)], env=env)
        procs.append(mock)
        wait_port(mock_port, mock)
        gw_log = open(tmp / "gateway.log", "wb")  # noqa: SIM115 - open for the gateway's life
        gateway = subprocess.Popen(
            [
                PY,
                "-m",
                "gateway",
                "--config",
                str(config(tmp, f"http://127.0.0.1:{mock_port}")),
                "--port",
                str(gw_port),
                "--store",
                f"redis://127.0.0.1:{store.port}/0",
            ],
            env=env,
            stderr=gw_log,
        )
        procs.append(gateway)
        wait_port(gw_port, gateway)
        url = f"http://127.0.0.1:{gw_port}"
        stats: collections.Counter[str] = collections.Counter()
        log: list[str] = []
        stop_at = time.monotonic() + args.duration
        await asyncio.gather(
            faults(store, args.duration, args.stall, log),
            *[client(url, stop_at, stats) for _ in range(args.streams)],
        )
        db = redis.Redis(port=store.port, socket_timeout=10)
        # The replay task runs every 2 s; wait until two passes add nothing.
        last: tuple[int, int, float] | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(2.5)
            now = recorded(db)
            if now == last and not list((tmp / "spill").rglob("*.spill*")):
                break
            last = now
        traces, unique, spend = recorded(db)
        spill_left = sum(
            p.read_bytes().count(b"\n") for p in (tmp / "spill").rglob("*.spill") if p.exists()
        )
        delivered = stats["delivered"]
        expected = delivered * STREAM_COST
        print(
            f"{args.streams} streaming clients for {args.duration:g} s against Redis with faults:"
        )
        for line in log:
            print(f"  {line}")
        print()
        print(f"streams delivered whole          {delivered}")
        for name, n in sorted(stats.items()):
            if name != "delivered":
                print(f"{name:<32} {n}")
        print(f"served traces in Redis           {traces} ({unique} distinct)")
        print(f"lost (delivered, not recorded)   {max(0, delivered - unique)}")
        print(f"double-counted traces            {traces - unique}")
        print(
            f"spend recorded                   ${spend:.6f} against ${expected:.6f} for the delivered streams ({spend / expected * 100 if expected else 0:.2f} %)"
        )
        print(f"settlements left in the journal  {spill_left}")
        ok = delivered > 0 and unique >= delivered and traces == unique
        ok = ok and abs(spend - expected) <= max(1e-9, expected * 1e-6) + STREAM_COST * 0.5
        print(f"\ntarget: 0 lost, 0 double-counted → {'met' if ok else 'NOT met'}")
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        store.stop()
        if args.keep:
            print(f"kept {tmp} (gateway.log there)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--duration", type=float, default=14.0)
    parser.add_argument("--stall", type=float, default=3.0)
    parser.add_argument("--keep", action="store_true", help="keep the run's files")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
