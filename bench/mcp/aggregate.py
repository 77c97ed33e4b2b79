"""What the aggregated ``/mcp`` endpoint adds to a ``tools/call``: the same read call
(``get_issue``) sent direct to the MCP server, through ``/mcp/github`` and through
``/mcp`` as ``github__get_issue``, interleaved on three keep-alive connections, so a
change in the machine's load hits all three alike. Target: ``/mcp`` adds at most 1 ms
at p50 over the direct call.

    .venv/bin/python -m bench.mcp.aggregate [--calls 2000] [--cpu-calls 1000]

Then, not interleaved, the gateway process's CPU time (user + system, from
``/proc``) per call on each route: the cost the gateway pays whatever the load.
The server is the fake github of ``tests/mcp`` (official SDK); it and the gateway
run as their own processes on loopback. The load average is printed beside each
figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.mcp.run import KEY, Session, config, free_port, pct, wait

TARGET_P50_MS = 1.0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(github: str, gateway: str, calls: int, cpu_calls: int, pid: int) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as c1,
        httpx.AsyncClient(timeout=30) as c2,
        httpx.AsyncClient(timeout=30) as c3,
    ):
        direct = await Session(c1, github + "/mcp", KEY).open()
        server = await Session(c2, gateway + "/mcp/github", "tok-0").open()
        merged = await Session(c3, gateway + "/mcp", "tok-0").open()
        routes = [
            ("direct", direct, "get_issue"),
            ("/mcp/github", server, "get_issue"),
            ("/mcp", merged, "github__get_issue"),
        ]
        await merged.post({"method": "tools/list"})
        for _ in range(200):  # warm up every path
            for _, s, tool in routes:
                await s.call(tool, {"number": 1})
        times: dict[str, list[float]] = {name: [] for name, _, _ in routes}
        before = load()
        for _ in range(calls):
            for name, s, tool in routes:
                t = time.perf_counter()
                await s.call(tool, {"number": 1})
                times[name].append((time.perf_counter() - t) * 1000)
        after = load()
        p = {name: (pct(v, 50), pct(v, 99)) for name, v in times.items()}
        print(f"{calls} interleaved calls of each ({before} before, {after} after)")
        for name, (p50, p99) in p.items():
            print(f"  {name:12s} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
        added = p["/mcp"][0] - p["direct"][0]
        over = p["/mcp"][0] - p["/mcp/github"][0]
        verdict = "met" if added <= TARGET_P50_MS else "MISSED"
        print(
            f"  /mcp adds p50 {added:.3f} ms over direct (target <= {TARGET_P50_MS} ms: {verdict}),"
            f" {over:+.3f} ms over /mcp/github; p99 {p['/mcp'][1] - p['direct'][1]:+.3f} ms"
        )
        for name, s, tool in routes[1:]:
            start, t0 = cpu_seconds(pid), load()
            for _ in range(cpu_calls):
                await s.call(tool, {"number": 1})
            per = (cpu_seconds(pid) - start) / cpu_calls * 1000
            print(f"  gateway CPU per call via {name:12s} {per:.3f} ms ({t0})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--cpu-calls", type=int, default=1000)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        gport, wport = free_port(), free_port()
        github, gateway = f"http://127.0.0.1:{gport}", f"http://127.0.0.1:{wport}"
        cfg = Path(tmp) / "gateway.json"
        cfg.write_bytes(orjson.dumps(config(github, 1)))
        env = {**os.environ, "BENCH_GITHUB_KEY": KEY, "PYTHONPATH": str(root)}
        try:
            procs.append(
                subprocess.Popen([py, "-m", "tests.mcp.fakegithub", str(gport), KEY], env=env)
            )
            gw = subprocess.Popen(
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
            procs.append(gw)
            wait(github + "/mcp")
            wait(gateway + "/healthz")
            asyncio.run(measure(github, gateway, args.calls, args.cpu_calls, gw.pid))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)


if __name__ == "__main__":
    main()
