"""MCP proxy benchmark: added latency of ``tools/call`` through the gateway (grants
and guardrails on) over calling the same MCP server directly, and 500 concurrent
write calls from 50 loops (each sent twice, as a retrying loop would) — none
lost, none executed twice.

    .venv/bin/python -m bench.mcp.run [--calls 2000]

The MCP server is the official SDK's (the fake github of ``tests/mcp``); both the
server and the gateway run as their own processes on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

KEY = "bench-github-key"
ACCEPT = "application/json, text/event-stream"
TARGETS = {"p50": 1.0, "p99": 3.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening at {url}")


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config(github: str, loops: int) -> dict[str, Any]:
    return {
        "fleet": "bench",
        "guardrails": {
            "mcp_pre_tool": [{"detector": "prompt-injection", "action": "block"}],
            "mcp_post_tool": [
                {"detector": "prompt-injection", "action": "block"},
                {"detector": "secrets", "action": "redact"},
                {"detector": "pii", "action": "redact"},
            ],
        },
        "mcp_servers": {
            "github": {
                "url": github + "/mcp",
                "tools": {
                    "read": ["get_*", "list_*"],
                    "write": ["create_pr", "comment"],
                    "destructive": ["merge_pr"],
                },
                "credentials": {"secret": "github", "env": "BENCH_GITHUB_KEY"},
            }
        },
        "loops": {
            f"loop-{i}": {
                "token_sha256": [sha(f"tok-{i}")],
                "models": [],
                "mcp": {"github": ["read", "write"]},
                "owner": "bench",
                "team": "bench",
                "stage": "production",
            }
            for i in range(loops)
        },
    }


class Session:
    """A bare streamable-HTTP session on one keep-alive connection: the least client overhead."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, token: str, extra: dict[str, str] | None = None
    ):
        self.client, self.url = client, url
        self.headers = {
            "authorization": f"Bearer {token}",
            "accept": ACCEPT,
            "content-type": "application/json",
        }
        self.headers.update(extra or {})
        self.ids = 1

    async def open(self) -> Session:
        r = await self.post(
            {
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "1"},
                },
            }
        )
        self.headers["mcp-session-id"] = r.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-06-18"
        await self.client.post(
            self.url,
            headers=self.headers,
            content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
        )
        return self

    async def post(
        self, msg: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        self.ids += 1
        body = orjson.dumps({"jsonrpc": "2.0", "id": self.ids, **msg})
        return await self.client.post(
            self.url, headers={**self.headers, **(headers or {})}, content=body
        )

    async def call(
        self, tool: str, args: dict[str, Any], headers: dict[str, str] | None = None
    ) -> str:
        r = await self.post(
            {"method": "tools/call", "params": {"name": tool, "arguments": args}}, headers
        )
        text = r.text
        if '"result"' not in text or '"isError":true' in text:
            raise RuntimeError(f"call failed: {text[:200]}")
        return text


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def latency(github: str, gateway: str, calls: int) -> dict[str, tuple[float, float]]:
    async with httpx.AsyncClient(timeout=30) as c1, httpx.AsyncClient(timeout=30) as c2:
        direct = await Session(c1, github + "/mcp", KEY).open()
        proxied = await Session(c2, gateway + "/mcp/github", "tok-0").open()
        for _ in range(200):  # warm up both paths
            await direct.call("get_issue", {"number": 1})
            await proxied.call("get_issue", {"number": 1})
        d: list[float] = []
        g: list[float] = []
        pd: list[float] = []
        pg: list[float] = []
        for _ in range(calls):  # interleaved, so drift in the machine's load hits both alike
            t = time.perf_counter()
            await direct.call("get_issue", {"number": 1})
            d.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await proxied.call("get_issue", {"number": 1})
            g.append((time.perf_counter() - t) * 1000)
            # ping passes through with no policy: the cost of the extra HTTP hop alone.
            t = time.perf_counter()
            await direct.post({"method": "ping"})
            pd.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await proxied.post({"method": "ping"})
            pg.append((time.perf_counter() - t) * 1000)
    return {
        "direct": (pct(d, 50), pct(d, 99)),
        "gateway": (pct(g, 50), pct(g, 99)),
        "ping_direct": (pct(pd, 50), pct(pd, 99)),
        "ping_gateway": (pct(pg, 50), pct(pg, 99)),
        "mean": (statistics.mean(d), statistics.mean(g)),
    }


async def concurrency(gateway: str, loops: int, per_loop: int) -> tuple[int, int]:
    """Every call twice at once with the same run and step; returns (answered, distinct answers)."""
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        sessions = [
            await Session(
                client, gateway + "/mcp/github", f"tok-{i}", {"x-fleet-run-id": f"run-{i}"}
            ).open()
            for i in range(loops)
        ]
        retries: list[str] = []

        async def call(s: Session, i: int, j: int) -> str:
            # A loop retries a call whose connection dropped, with the same run and step, so
            # the same default key: the gateway answers from the stored result.
            for attempt in range(3):
                try:
                    return await s.call(
                        "create_pr", {"title": f"loop {i} pr {j}"}, {"x-fleet-step": str(j)}
                    )
                except httpx.TransportError as exc:
                    if attempt == 2:
                        raise
                    retries.append(repr(exc))
            raise AssertionError("unreachable")

        jobs = []
        for i, s in enumerate(sessions):
            for j in range(per_loop):
                for _ in range(2):
                    jobs.append(call(s, i, j))
        answers = await asyncio.gather(*jobs, return_exceptions=True)
    if retries:
        print(
            f"transport errors retried by the loops: {len(retries)} ({', '.join(sorted(set(retries)))})"
        )
    ok = [a for a in answers if isinstance(a, str)]
    for a in answers:
        if not isinstance(a, str):
            print("failed:", repr(a), file=sys.stderr)
    return len(ok), len(
        {
            json.loads(a.split("data: ", 1)[-1] if a.startswith("event") else a)["result"][
                "content"
            ][0]["text"]
            for a in ok
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--loops", type=int, default=50)
    parser.add_argument("--per-loop", type=int, default=10)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "executed.jsonl"
        gport, wport = free_port(), free_port()
        github, gateway = f"http://127.0.0.1:{gport}", f"http://127.0.0.1:{wport}"
        cfg = Path(tmp) / "gateway.json"
        cfg.write_bytes(orjson.dumps(config(github, args.loops)))
        env = {**os.environ, "BENCH_GITHUB_KEY": KEY, "PYTHONPATH": str(root)}
        try:
            procs.append(
                subprocess.Popen(
                    [py, "-m", "tests.mcp.fakegithub", str(gport), KEY, str(record)],
                    cwd=root,
                    env=env,
                )
            )
            procs.append(
                subprocess.Popen(
                    [
                        py,
                        "-m",
                        "gateway",
                        "--config",
                        str(cfg),
                        "--port",
                        str(wport),
                        "--store",
                        f"sqlite:{tmp}/gw.sqlite3",
                    ],
                    cwd=root,
                    env=env,
                )
            )
            wait(github + "/mcp")
            wait(gateway + "/healthz")
            lat = asyncio.run(latency(github, gateway, args.calls))
            before = len(record.read_text().splitlines())
            t = time.perf_counter()
            answered, distinct = asyncio.run(concurrency(gateway, args.loops, args.per_loop))
            wall = time.perf_counter() - t
            executed = [json.loads(line) for line in record.read_text().splitlines()[before:]]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
    unique = args.loops * args.per_loop
    titles = [e["args"]["title"] for e in executed if e["tool"] == "create_pr"]
    twice = len(titles) - len(set(titles))
    lost = unique - len(set(titles))
    added = {k: lat["gateway"][i] - lat["direct"][i] for i, k in enumerate(("p50", "p99"))}
    print(
        f"tools/call get_issue, {args.calls} sequential calls each way, grants + 4 guardrail rules on"
    )
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'direct to MCP server':28}{lat['direct'][0]:>10.3f}{lat['direct'][1]:>10.3f}")
    print(f"{'through the gateway':28}{lat['gateway'][0]:>10.3f}{lat['gateway'][1]:>10.3f}")
    print(f"{'added by the gateway':28}{added['p50']:>10.3f}{added['p99']:>10.3f}")
    hop = [lat["ping_gateway"][i] - lat["ping_direct"][i] for i in (0, 1)]
    print(f"{'ping direct':28}{lat['ping_direct'][0]:>10.3f}{lat['ping_direct'][1]:>10.3f}")
    print(
        f"{'ping through (no policy)':28}{lat['ping_gateway'][0]:>10.3f}{lat['ping_gateway'][1]:>10.3f}"
    )
    print(f"{'added by the hop alone':28}{hop[0]:>10.3f}{hop[1]:>10.3f}")
    print(f"{'target':28}{'<= 1.000':>10}{'<= 3.000':>10}")
    for k in ("p50", "p99"):
        print(
            f"added {k}: {added[k]:.3f} ms vs target {TARGETS[k]:.0f} ms: {'PASS' if added[k] <= TARGETS[k] else 'MISS'}"
        )
    print()
    print(
        f"{unique} write calls from {args.loops} loops, each sent twice concurrently ({2 * unique} requests, {wall:.2f} s)"
    )
    print(
        f"answered {answered}/{2 * unique}, distinct results {distinct}, executed {len(titles)}, lost {lost}, executed twice {twice}"
    )
    print(
        f"zero lost, zero executed twice: {'PASS' if lost == 0 and twice == 0 and answered == 2 * unique else 'MISS'}"
    )


if __name__ == "__main__":
    main()
