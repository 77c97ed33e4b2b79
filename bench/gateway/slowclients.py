"""Slow and idle clients against the gateway: are they closed, when, and does /healthz
stay quick meanwhile?

Opens, against one gateway process (``python -m gateway``, its default limits unless
flags say otherwise):

- ``--idle`` connections that send nothing,
- ``--slow`` connections that send a request head one byte every ``--drip`` seconds,
- ``--body`` connections that send a head (a valid token, Content-Length 4096) and
  10 bytes of body, then nothing,
- ``--trickle`` connections that send the same head and then the body one byte every
  ``--trickle-every`` seconds (1 s: never a stall the body timeout sees, far under the
  minimum body rate),

all at once, and probes ``/healthz`` on a fresh connection every 50 ms until every
connection is closed or ``--hold`` seconds pass. Prints, per kind, how many the
gateway closed, when (from connect), and what it answered; then the health probes'
latency. The anchor is the gateway before its connection limits: 0 of 300 + 300 + 300 closed in 30 s; for
the tricklers, the same run with ``--min-body-rate 0`` (the check off).

Then the normal path's cost (``--normal N``, 0 skips it): N requests on kept-alive
connections whose body arrives in a read of its own after the head (so the body's timer
is armed and its bytes counted, the path the rate check adds to), against a gateway with
the minimum body rate on and one with it off, in interleaved rounds; the gateway
process's CPU per request (its CPU clock) and the load average beside each.

Run: ``.venv/bin/python bench/gateway/slowclients.py [--hold 45] [--header-timeout S]
[--body-timeout S] [--keepalive-timeout S] [--min-body-rate B] [--body-rate-window S]
[--trickle N] [--normal N]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import statistics
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


BODY_HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
    b"authorization: Bearer " + TOKEN.encode() + b"\r\ncontent-length: 4096\r\n\r\n"
)


async def hold(client: Client, port: int, drip: float, trickle: float, deadline: float) -> None:
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
        writer.write(BODY_HEAD + b'{"model":"')
    elif client.kind == "trickle":
        writer.write(BODY_HEAD)

        async def drip_body() -> None:
            try:
                for byte in b'{"model":"' + b"a" * 4086:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(trickle)
            except ConnectionError:
                pass

        dripping = asyncio.create_task(drip_body())
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
        + [Client("trickle") for _ in range(args.trickle)]
    )
    latencies: list[float] = []
    failures: list[str] = []
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(port, latencies, failures, stop))
    await asyncio.gather(*(hold(c, port, args.drip, args.trickle_every, deadline) for c in clients))
    stop.set()
    await prober
    return clients, latencies, failures


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_s(pid: int) -> float:
    """The CPU time of process ``pid`` (every thread), from its CPU clock."""
    return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9


def start_gateway(tmp: Path, flags: list[str], name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [PY, "-m", "gateway", "--config", str(config(tmp)), "--port", str(port)]
    cmd += ["--store", f"sqlite:{tmp / f'{name}.sqlite3'}", *flags]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    gateway = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ},
    )
    deadline = time.time() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return gateway, port
        if time.time() > deadline or gateway.poll() is not None:
            gateway.terminate()
            raise SystemExit("the gateway did not start")
        time.sleep(0.1)


NORMAL_BODY = b'{"model":"not-granted","messages":[{"role":"user","content":"hi"}]}'
NORMAL_HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
    b"authorization: Bearer " + TOKEN.encode() + b"\r\ncontent-length: %d\r\n\r\n"
) % len(NORMAL_BODY)


async def normal(port: int, requests: int, conns: int = 4) -> None:
    """``requests`` requests over ``conns`` kept-alive connections, each head and body
    written apart (the body is read by a second read, with its timer armed); each one is
    answered (a 4xx naming the model: nothing goes upstream)."""

    async def one(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(n):
            writer.write(NORMAL_HEAD)
            await writer.drain()
            await asyncio.sleep(0)  # the head alone reaches the gateway first
            writer.write(NORMAL_BODY)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 4"):
                raise SystemExit(f"unexpected answer: {head[:40]!r}")
        writer.close()

    await asyncio.gather(*(one(requests // conns) for _ in range(conns)))


def normal_path(tmp: Path, requests: int, rounds: int = 3) -> None:
    gateways = {
        "on": start_gateway(tmp, [], "normal-on"),
        "off": start_gateway(tmp, ["--min-body-rate", "0"], "normal-off"),
    }
    per: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for _, port in gateways.values():
            asyncio.run(normal(port, 200))  # warm-up
        print(f"\nnormal path: {requests} requests a round, head and body in two writes")
        print(f"{'round':>5} {'rate check':>10} {'us CPU/request':>15}  load average")
        for r in range(rounds):
            for kind in ("on", "off") if r % 2 == 0 else ("off", "on"):
                gw, port = gateways[kind]
                before = cpu_s(gw.pid)
                asyncio.run(normal(port, requests))
                us = (cpu_s(gw.pid) - before) / requests * 1e6
                per[kind].append(us)
                print(f"{r:>5} {kind:>10} {us:15.1f}  {load()}")
    finally:
        for gw, _ in gateways.values():
            gw.terminate()
            gw.wait(timeout=20)
    on, off = statistics.median(per["on"]), statistics.median(per["off"])
    print(
        f"gateway CPU per request, median of {rounds} rounds: rate check on {on:.1f} us, "
        f"off {off:.1f} us ({on - off:+.1f} us, {(on - off) / off * 100:+.1f} %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--body", type=int, default=300)
    parser.add_argument("--trickle", type=int, default=300)
    parser.add_argument("--drip", type=float, default=0.5, help="seconds between head bytes")
    parser.add_argument(
        "--trickle-every", type=float, default=1.0, help="seconds between a trickled body's bytes"
    )
    parser.add_argument("--hold", type=float, default=45.0, help="seconds to wait for closes")
    parser.add_argument("--normal", type=int, default=4000, help="requests a round (0: skip)")
    flags = (
        "--header-timeout",
        "--body-timeout",
        "--keepalive-timeout",
        "--min-body-rate",
        "--body-rate-window",
    )
    for flag in flags:
        parser.add_argument(flag, default=None, help="passed to the gateway (default: its own)")
    args = parser.parse_args()
    passed: list[str] = []
    for flag in flags:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            passed += [flag, value]
    print(f"slow clients (load average {load()}; gateway flags: {' '.join(passed) or 'none'})")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        gateway, port = start_gateway(tmp, passed, "gw")
        try:
            clients, latencies, failures = asyncio.run(attack(port, args))
        finally:
            gateway.terminate()
            gateway.wait(timeout=20)
        report(args, clients, latencies, failures)
        if args.normal:
            normal_path(tmp, args.normal)


def report(
    args: argparse.Namespace, clients: list[Client], latencies: list[float], failures: list[str]
) -> None:
    print(f"{'kind':<28} {'closed':>9} {'p50 s':>7} {'max s':>7}  answers")
    names = {
        "idle": "idle (sent nothing)",
        "slow": f"slow head (1 byte / {args.drip:g} s)",
        "body": "body declared, never sent",
        "trickle": f"body trickled (1 B / {args.trickle_every:g} s)",
    }
    total = closed = 0
    for kind, name in names.items():
        group = [c for c in clients if c.kind == kind]
        if not group:
            continue
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
        f"before the connection limits: 0 of 900 closed in 30 s → now {closed} of {total} closed "
        f"within {args.hold:g} s"
    )


if __name__ == "__main__":
    main()
