"""Slow and idle clients against the gateway: are they closed, when, and does /healthz
stay quick meanwhile?

Opens, against one gateway process (``python -m gateway``, its default limits unless
flags say otherwise):

- ``--idle`` connections that send nothing,
- ``--slow`` connections that send a request head one byte every ``--drip`` seconds,
- ``--body`` connections that send a head (a valid token, Content-Length 4096) and
  10 bytes of body, then nothing,

all at once, and probes ``/healthz`` on a fresh connection every 50 ms until every
connection is closed or ``--hold`` seconds pass. Prints, per kind, how many the
gateway closed, when (from connect), and what it answered; then the health probes'
latency. The anchor is the audit of issue 16: 0 of 300 + 300 + 300 closed in 30 s.

Run: ``.venv/bin/python bench/gateway/slowclients.py [--hold 45] [--header-timeout S]
[--body-timeout S] [--keepalive-timeout S]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PY = sys.executable
TOKEN = "slowclients-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(tmp: Path) -> Path:
    cfg = {
        "fleet": "slowclients",
        # never called: no request here gets as far as the provider
        "providers": {"none": {"base_url": "http://127.0.0.1:9/v1", "timeout_s": 5}},
        "models": {"main": {"targets": [{"provider": "none", "model": "m"}]}},
        "pricing": {"none/m": {"input": 1.0, "output": 1.0}},
        "loops": {
            "slow-loop": {
                "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()],
                "models": ["main"],
                "owner": "bench",
                "team": "bench",
                "stage": "production",
            }
        },
    }
    path = tmp / "gateway.json"
    path.write_text(json.dumps(cfg))
    return path


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    def __init__(self, kind: str):
        self.kind = kind
        self.closed_at: float | None = None
        self.status = "none"


async def hold(client: Client, port: int, drip: float, deadline: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    head = b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-pad: " + b"a" * 400 + b"\r\n\r\n"
    dripping: asyncio.Task[None] | None = None
    if client.kind == "slow":

        async def drip_head() -> None:
            try:
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(drip)
            except ConnectionError:
                pass

        dripping = asyncio.create_task(drip_head())
    elif client.kind == "body":
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + TOKEN.encode() + b"\r\ncontent-length: 4096\r\n\r\n"
            b'{"model":"'
        )
    data = b""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            while chunk := await reader.read(65536):
                data += chunk
        client.closed_at = time.monotonic() - opened
    except TimeoutError:
        pass
    except ConnectionError:
        client.closed_at = time.monotonic() - opened
    if dripping is not None:
        dripping.cancel()
    writer.close()
    if data.startswith(b"HTTP/1.1 "):
        client.status = data[9:12].decode()
        if b'"code":"' in data:
            client.status += " " + data.split(b'"code":"', 1)[1].split(b'"', 1)[0].decode()


async def probe(
    port: int, latencies: list[float], failures: list[str], stop: asyncio.Event
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"
    while not stop.is_set():
        t = time.perf_counter()
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                data = await reader.read()
                writer.close()
            if data.startswith(b"HTTP/1.1 200"):
                latencies.append((time.perf_counter() - t) * 1000)
            else:
                failures.append(data[:12].decode(errors="replace"))
        except (TimeoutError, OSError) as exc:
            failures.append(type(exc).__name__)
        await asyncio.sleep(0.05)


async def attack(
    port: int, args: argparse.Namespace
) -> tuple[list[Client], list[float], list[str]]:
    start = time.monotonic()
    deadline = start + args.hold
    clients = (
        [Client("idle") for _ in range(args.idle)]
        + [Client("slow") for _ in range(args.slow)]
        + [Client("body") for _ in range(args.body)]
    )
    latencies: list[float] = []
    failures: list[str] = []
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(port, latencies, failures, stop))
    await asyncio.gather(*(hold(c, port, args.drip, deadline) for c in clients))
    stop.set()
    await prober
    return clients, latencies, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--body", type=int, default=300)
    parser.add_argument("--drip", type=float, default=0.5, help="seconds between head bytes")
    parser.add_argument("--hold", type=float, default=45.0, help="seconds to wait for closes")
    for flag in ("--header-timeout", "--body-timeout", "--keepalive-timeout"):
        parser.add_argument(flag, default=None, help="passed to the gateway (default: its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        port = free_port()
        cmd = [PY, "-m", "gateway", "--config", str(config(tmp)), "--port", str(port)]
        cmd += ["--store", f"sqlite:{tmp / 'gw.sqlite3'}"]
        for flag in ("header_timeout", "body_timeout", "keepalive_timeout"):
            if getattr(args, flag) is not None:
                cmd += ["--" + flag.replace("_", "-"), getattr(args, flag)]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
        gateway = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ},
        )
        try:
            deadline = time.time() + 30
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.time() > deadline or gateway.poll() is not None:
                    raise SystemExit("the gateway did not start")
                time.sleep(0.1)
            clients, latencies, failures = asyncio.run(attack(port, args))
        finally:
            gateway.terminate()
            gateway.wait(timeout=20)
    print(f"{'kind':<28} {'closed':>9} {'p50 s':>7} {'max s':>7}  answers")
    names = {
        "idle": "idle (sent nothing)",
        "slow": f"slow head (1 byte / {args.drip:g} s)",
        "body": "body declared, never sent",
    }
    total = closed = 0
    for kind, name in names.items():
        group = [c for c in clients if c.kind == kind]
        times = [c.closed_at for c in group if c.closed_at is not None]
        answers = Counter(c.status for c in group)
        total += len(group)
        closed += len(times)
        print(
            f"{name:<28} {len(times):>4}/{len(group):<4} {percentile(times, 0.5):7.2f} "
            f"{max(times, default=float('nan')):7.2f}  "
            + ", ".join(f"{k} ×{v}" for k, v in answers.most_common())
        )
    print()
    print(
        f"/healthz meanwhile: {len(latencies)} answered, p50 {percentile(latencies, 0.5):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies, default=float('nan')):.2f} ms, "
        f"{len(failures)} failed" + (f" ({Counter(failures).most_common(3)})" if failures else "")
    )
    print()
    print(
        f"before (issue 16 audit): 0 of 900 closed in 30 s → now {closed} of {total} closed "
        f"within {args.hold:g} s"
    )


if __name__ == "__main__":
    main()
