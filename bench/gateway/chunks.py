"""What relaying a streamed answer costs the gateway, per chunk, and what that
means for how many streams one core carries.

Starts the mock provider (core 1), then on core 0 in turn the bare pass-through
(the floor: the same server and upstream client, no policy) and the gateway
with the full policy. Through each it runs ROUNDS rounds of N concurrent
streams of 200 chunks, 10 ms apart (so the proxy is far from busy and reads
each chunk on its own), and divides the proxy's CPU time (user + system, from
/proc) by the chunks it relayed. Each request's own cost (auth, budget,
routing, settlement) is spread over its 200 chunks and included.

Run: ``.venv/bin/python bench/gateway/chunks.py [--streams 200] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # the process helpers of the gateway benchmark

CHUNKS, PAUSE_S = 200, 0.01  # per stream, as the mock sends for "user": "relay"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_of(url: str, n: int) -> int:
    """N streams at once; the number of chunks the client saw end to end."""
    data = json.dumps(
        {
            "model": "main",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "user": "relay",
            "max_tokens": 256,
        },
        separators=(",", ":"),
    )
    headers = {
        "Authorization": f"Bearer {bench.TOKEN}",
        "Content-Type": "application/json",
        "x-fleet-cache": "off",
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n + 10)) as session:

        async def one() -> int:
            async with session.post(url, data=data, headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"gateway answered {resp.status}: {await resp.text()}")
                body = await resp.read()
                return body.count(b'"delta"')

        return sum(await asyncio.gather(*(one() for _ in range(n))))


def measure(
    name: str, cmd: list[str], port: int, streams: int, rounds: int
) -> tuple[list[float], list[float]]:
    """µs of CPU per chunk and % of the core, per round, of the proxy ``cmd`` on core 0."""
    proxy = bench.start(cmd, port, "0")
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        asyncio.run(round_of(url, 4))  # warm up
        per_chunk, share = [], []
        for _ in range(rounds):
            before, t0 = cpu_seconds(proxy.pid), time.perf_counter()
            seen = asyncio.run(round_of(url, streams))
            used, wall = cpu_seconds(proxy.pid) - before, time.perf_counter() - t0
            if seen != streams * CHUNKS:
                raise SystemExit(f"{name}: relayed {seen} of {streams * CHUNKS} chunks")
            per_chunk.append(used / seen * 1e6)
            share.append(used / wall * 100)
            print(
                f"{name}: {streams} streams × {CHUNKS} chunks in {wall:.2f} s "
                f"({seen / wall:,.0f} chunks/s), CPU {used:.2f} s ({share[-1]:.0f}% of its core), "
                f"{per_chunk[-1]:.1f} µs per chunk"
            )
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
    return per_chunk, share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mock_port = bench.free_port()
        mock = bench.start([bench.PY, str(bench.HERE / "mock.py"), str(mock_port)], mock_port, "1")
        mock_url = f"http://127.0.0.1:{mock_port}"
        try:
            port = bench.free_port()
            floor = measure(
                "bare pass-through (floor)",
                [bench.PY, str(bench.HERE / "passthrough.py"), str(port), mock_url],
                port,
                args.streams,
                args.rounds,
            )
            port = bench.free_port()
            ours = measure(
                "fleet gateway, full policy",
                bench.gateway_cmd(
                    bench.gateway_config(tmp, mock_url, False), str(port), tmp / "gw.sqlite3"
                ),
                port,
                args.streams,
                args.rounds,
            )
        finally:
            mock.kill()
    print()
    for name, (per_chunk, share) in (("floor", floor), ("gateway", ours)):
        print(
            f"{name:>8}: {min(per_chunk):.1f}–{max(per_chunk):.1f} µs of CPU per chunk "
            f"(request costs included), {min(share):.0f}–{max(share):.0f}% of its core"
        )
    print(
        f"the gateway's own share: {min(ours[0]) - min(floor[0]):.1f} µs per chunk "
        f"({args.streams} streams at {1 / PAUSE_S:.0f} chunks/s each)"
    )


if __name__ == "__main__":
    main()
