"""Open N concurrent streaming chat completions and report time-to-first-token percentiles (ms)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def one(session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes, out: list[float]) -> None:
    t0 = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        first = True
        async for _ in resp.content.iter_any():
            if first:
                out.append((time.perf_counter() - t0) * 1000)
                first = False


async def main(url: str, n: int, token: str) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "x-fleet-cache": "off"}
    body = json.dumps({"model": "main", "messages": [{"role": "user", "content": "stream"}], "stream": True, "max_tokens": 64}).encode()
    out: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n + 10)) as session:
        await asyncio.gather(*(one(session, url, headers, body, out) for _ in range(n)))
    out.sort()
    print(json.dumps({"n": len(out), "p50": out[len(out) // 2], "p99": out[int(len(out) * 0.99) - 1]}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
