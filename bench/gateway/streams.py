"""Time to first token (ms) of streaming chat completions, two ways.

``burst``: open N streams at once and time each one's first token (a cold
stampede: the proxy must accept, authorise and route N requests in one go).
``held``: open N long, slow streams, wait until all are flowing, then time
sequential probe streams while those N stay open (the steady state of N
concurrent streams). Prints JSON percentiles for both.

Run: ``python bench/gateway/streams.py URL N TOKEN [PROBES]``
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
    started: asyncio.Event | None = None,
) -> None:
    t0 = time.perf_counter()
    async with session.post(url, data=data, headers=headers) as resp:
        first = True
        async for _ in resp.content.iter_any():
            if first:
                out.append((time.perf_counter() - t0) * 1000)
                first = False
                if started is not None:
                    started.set()


def pct(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "n": len(values),
        "p50": values[len(values) // 2],
        "p99": values[max(0, int(len(values) * 0.99) - 1)],
    }


async def main(url: str, n: int, token: str, probes: int) -> None:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "x-fleet-cache": "off",
    }
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=n + 10), timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        burst: list[float] = []
        await asyncio.gather(*(one(session, url, headers, body(False), burst) for _ in range(n)))
        held_first: list[float] = []
        held = []
        for i in range(n):  # ramp up so the held streams measure steady state, not the stampede
            held.append(asyncio.ensure_future(one(session, url, headers, body(True), held_first)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        while len(held_first) < n:
            await asyncio.sleep(0.01)
        probe: list[float] = []
        for _ in range(probes):
            await one(session, url, headers, body(False), probe)
        open_during = sum(not t.done() for t in held)
        for t in held:
            t.cancel()
        await asyncio.gather(*held, return_exceptions=True)
    print(json.dumps({"burst": pct(burst), "held": {**pct(probe), "open_streams": open_during}}))


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1],
            int(sys.argv[2]),
            sys.argv[3],
            int(sys.argv[4]) if len(sys.argv) > 4 else 100,
        )
    )
