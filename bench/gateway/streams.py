"""Time to first token (ms) of streaming chat completions through the gateway and
straight to the mock provider, two ways.

``held``: open N long, slow streams through the gateway, wait until all are
flowing, then time probe streams one at a time while those N stay open,
alternating a probe through the gateway with one straight to the mock. Both
kinds of probe meet the same moment of the mock (which serves the N held
streams too), so the difference is what the gateway adds while it relays N
streams. Several hundred probes each, so p99 is not the largest of a handful.
``burst``: open N streams at once and time each one's first token, straight
to the mock and then through the gateway (a cold stampede: the gateway must
accept, authorise, route and connect N requests in one go).

Prints JSON: ``{"held": {"direct": …, "gateway": …, "open_streams": N},
"burst": {"direct": …, "gateway": …}}`` with n, p50 and p99 each.

Run: ``python bench/gateway/streams.py GATEWAY_URL MOCK_URL N TOKEN [PROBES]``
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


def body(hold: bool) -> bytes:
    payload: dict[str, object] = {
        "model": "main",
        "messages": [{"role": "user", "content": "stream"}],
        "stream": True,
        "max_tokens": 64,
    }
    if hold:
        payload["user"] = "hold"
    return json.dumps(payload, separators=(",", ":")).encode()


async def one(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    data: bytes,
    out: list[float],
) -> None:
    t0 = time.perf_counter()
    async with session.post(url, data=data, headers=headers) as resp:
        first = True
        async for _ in resp.content.iter_any():
            if first:
                out.append((time.perf_counter() - t0) * 1000)
                first = False


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
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=n + 10), timeout=aiohttp.ClientTimeout(total=180)
    ) as session:
        burst: dict[str, list[float]] = {"direct": [], "gateway": []}
        for name, url in (("direct", direct), ("gateway", gateway)):
            await asyncio.gather(
                *(one(session, url, headers, body(False), burst[name]) for _ in range(n))
            )
        flowing: list[float] = []
        held = []
        for i in range(n):  # ramp up so the held streams measure steady state, not the stampede
            held.append(asyncio.ensure_future(one(session, gateway, headers, body(True), flowing)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        while len(flowing) < n:
            await asyncio.sleep(0.01)
        probe: dict[str, list[float]] = {"direct": [], "gateway": []}
        for _ in range(probes):
            await one(session, gateway, headers, body(False), probe["gateway"])
            await one(session, direct, headers, body(False), probe["direct"])
        open_during = sum(not t.done() for t in held)
        for t in held:
            t.cancel()
        await asyncio.gather(*held, return_exceptions=True)
    print(
        json.dumps(
            {
                "held": {k: pct(v) for k, v in probe.items()} | {"open_streams": open_during},
                "burst": {k: pct(v) for k, v in burst.items()},
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
            int(sys.argv[5]) if len(sys.argv) > 5 else 400,
        )
    )
