"""Time to first token (ms) of streaming chat completions through the gateway and
straight to the mock provider, two ways.

``held``: open N long, slow streams through the gateway, wait until all are
flowing, then time probe streams one at a time while those N stay open,
alternating a probe through the gateway with one straight to the mock. Both
kinds of probe meet the same moment of the mock (which serves the N held
streams too), so the difference is what the gateway adds while it relays N
streams. 2,000 short probes each (two chunks; only the first is timed), so p99
is the 20th slowest: the machine's own stalls (a kernel thread taking a core
for a few ms twice a second, the hypervisor) hit about one probe in 150, and
with a few hundred probes whether p99 lands on one of them is chance.
``burst``: open N streams at once and time each one's first token, straight
to the mock and then through the gateway (a cold stampede: the gateway must
accept, authorise, route and connect N requests in one go).

Prints JSON: ``{"held": {"direct": …, "gateway": …, "open_streams": N, "steal_ms": {cpu: ms}},
"burst": {"direct": …, "gateway": …}, "failed": {phase: {"n", "first"}}}`` with
n, p50 and p99 each; ``steal_ms`` is the time the hypervisor took each core away
during the probes (a VM's host running something else); a stream that fails is
counted (with its first reasons), not timed.

With ``FLEET_PROBES_OUT=FILE`` in the environment it also writes each held-phase
probe pair to FILE as JSON (``{"start": [s], "gateway": [ms], "direct": [ms]}``,
starts in seconds from the first timed pair), to see whether a run's slowest
probes came together (one stall) or spread out.

Run: ``python bench/gateway/streams.py GATEWAY_URL MOCK_URL N TOKEN [PROBES]``
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

WARMUP = 10


def body(kind: str = "") -> bytes:
    """A streaming request; ``kind`` ("hold", "probe") picks the mock's answer (mock.py)."""
    payload: dict[str, object] = {
        "model": "main",
        "messages": [{"role": "user", "content": "stream"}],
        "stream": True,
        "max_tokens": 64,
    }
    if kind:
        payload["user"] = kind
    return json.dumps(payload, separators=(",", ":")).encode()


async def one(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    data: bytes,
    out: list[float],
    failed: list[str],
) -> None:
    """Time one stream's first chunk into ``out``; a stream that fails goes to ``failed``."""
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=data, headers=headers) as resp:
            first = True
            async for _ in resp.content.iter_any():
                if first:
                    out.append((time.perf_counter() - t0) * 1000)
                    first = False
            if resp.status != 200:
                failed.append(f"status {resp.status}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # counted and reported, like wrk's errors
        failed.append(f"{exc.__class__.__name__}: {exc}")


class Held(asyncio.Protocol):
    """A held stream, read and thrown away at the socket: the load generator must stay
    cheap (as wrk is), or its own work on the shared cores shows up in the probes."""

    def __init__(self, request: bytes, flowing: list[Held]):
        self.request, self.flowing = request, flowing
        self.transport: asyncio.Transport | None = None
        self.open = False  # the answer has started and not ended
        self.failed = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.open and not self.failed:
            if not data.startswith(b"HTTP/1.1 200"):
                self.failed = f"status line {data[:40]!r}"
                return
            self.open = True
            self.flowing.append(self)
        if data.endswith(b"0\r\n\r\n"):  # the chunked answer ended
            self.open = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.failed = f"closed mid-answer: {exc!r}"
        self.open = False

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


def steal_ms() -> dict[str, float]:
    """Time the hypervisor ran something else on each of this VM's cores (0 on bare metal)."""
    try:
        rows = [line.split() for line in Path("/proc/stat").read_text().splitlines()]
    except OSError:
        return {}
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    return {r[0]: int(r[8]) * tick_ms for r in rows if r[0][:3] == "cpu" and r[0][3:].isdigit()}


def session_for(n: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=n + 10), timeout=aiohttp.ClientTimeout(total=180)
    )


def pct(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "n": len(values),
        "p50": values[len(values) // 2],
        "p99": values[max(0, int(len(values) * 0.99) - 1)],
    }


async def main(gateway: str, direct: str, n: int, token: str, probes: int) -> None:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "x-fleet-cache": "off",
    }
    burst: dict[str, list[float]] = {"direct": [], "gateway": []}
    failed: dict[str, list[str]] = {"burst": [], "held": [], "probes": []}
    # A session per phase: a connection pooled in one phase has sat idle long enough for
    # the server to close it, and reusing it fails the request on the client's side.
    for name, url in (("direct", direct), ("gateway", gateway)):
        async with session_for(n) as session:
            await asyncio.gather(
                *(
                    one(session, url, headers, body(), burst[name], failed["burst"])
                    for _ in range(n)
                )
            )
    async with session_for(n) as session:
        loop = asyncio.get_running_loop()
        split = urlsplit(gateway)
        hold = body("hold")
        request = (
            f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"Content-Length: {len(hold)}\r\n\r\n"
        ).encode() + hold
        flowing: list[Held] = []
        held: list[Held] = []
        for i in range(n):  # ramp up so the held streams measure steady state, not the stampede
            try:
                _, proto = await loop.create_connection(
                    lambda: Held(request, flowing), split.hostname, split.port
                )
            except OSError as exc:
                failed["held"].append(f"{exc.__class__.__name__}: {exc}")
                continue
            held.append(proto)
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        deadline = loop.time() + 60
        while len(flowing) + sum(bool(h.failed) for h in held) < len(held):
            if loop.time() > deadline:
                raise SystemExit(f"only {len(flowing)} of {n} held streams started")
            await asyncio.sleep(0.01)
        probe: dict[str, list[float]] = {"direct": [], "gateway": []}
        # The load generator's own collector pauses (a few ms with 1,000 streams' objects
        # about) would land in whichever probe is running: keep them out of the figures.
        gc.collect()
        gc.freeze()
        gc.disable()
        probe_body = body("probe")
        stolen = steal_ms()
        starts: list[float] = []
        for i in range(WARMUP + probes):  # the first pairs open connections: not timed
            into = probe if i >= WARMUP else {"direct": [], "gateway": []}
            if i >= WARMUP:
                starts.append(time.perf_counter())
            await one(session, gateway, headers, probe_body, into["gateway"], failed["probes"])
            await one(session, direct, headers, probe_body, into["direct"], failed["probes"])
        gc.enable()
        stolen = {cpu: ms - stolen[cpu] for cpu, ms in steal_ms().items()}
        if os.environ.get("FLEET_PROBES_OUT"):
            Path(os.environ["FLEET_PROBES_OUT"]).write_text(
                json.dumps({"start": [t - starts[0] for t in starts]} | probe)
            )
        open_during = sum(h.open for h in held)
        failed["held"] += [h.failed for h in held if h.failed]
        for h in held:
            h.close()
    print(
        json.dumps(
            {
                "held": {k: pct(v) for k, v in probe.items()}
                | {"open_streams": open_during, "steal_ms": stolen},
                "burst": {k: pct(v) for k, v in burst.items()},
                "failed": {k: {"n": len(v), "first": v[:3]} for k, v in failed.items()},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1],
            sys.argv[2],
            int(sys.argv[3]),
            sys.argv[4],
            int(sys.argv[5]) if len(sys.argv) > 5 else 2000,
        )
    )
