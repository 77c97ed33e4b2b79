"""Part ``mcp``: the official MCP client's CPU per ``tools/call``, and what of it the
gateway's answer format and the HTTP stack decide.

The harness's tool step is one ``ClientSession.call_tool`` (streamable HTTP, official
``mcp`` client on httpx2). Measured here, in-process on the harness's core, for the
same ``get_issue`` call: through the gateway's ``/mcp/github`` (which answers a
one-event ``tools/call`` as JSON), and straight to the fake github
server (official SDK) started twice, once answering SSE (the SDK's default) and once
``application/json`` (``json_response=True``, which the streamable-HTTP spec allows for
a single answer), each with httpx2's own transport and with the harness's
(:mod:`harness.transport`, the default). The gap between SSE and JSON is what the gateway would
save its loops by answering a ``tools/call`` as JSON; the gap between the transports is
httpx2's HTTP stack under the client.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

from bench.harness.stack import PY, SERVICE_CORE, TOKEN, Stack, free_port, wait_http
from harness.transport import Transport

CALLS = 300
WARM = 20
ROUNDS = 3


async def per_call_ms(url: str, transport: type[Transport] | None) -> float:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    kw: dict[str, Any] = {"transport": transport()} if transport else {}
    headers = {"authorization": f"Bearer {TOKEN}", "x-fleet-run-id": f"mcp-{os.urandom(3).hex()}"}
    async with (
        httpx2.AsyncClient(headers=headers, verify=False, **kw) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for i in range(WARM):
            await session.call_tool("get_issue", {"number": i})
        t = time.thread_time()
        for i in range(CALLS):
            result = await session.call_tool("get_issue", {"number": i})
        used = time.thread_time() - t
        if result.is_error:
            raise SystemExit(f"mcp: get_issue failed at {url}: {result.content}")
    return used / CALLS * 1000


def fake_server(stack: Stack, mode: str) -> str:
    port = free_port()
    proc = stack.popen([PY, "-m", "bench.harness.mcp", "serve", str(port), mode], SERVICE_CORE)
    stack.procs.append(proc)
    url = f"http://127.0.0.1:{port}/mcp"
    wait_http(url, proc)
    return url


def measure(stack: Stack) -> list[tuple[str, str, str, bool]]:
    urls = {
        "gateway /mcp/github": stack.gateway("sqlite") + "/mcp/github",
        "fake github, SSE answers": fake_server(stack, "sse"),
        "fake github, JSON answers": fake_server(stack, "json"),
    }
    transports: dict[str, type[Transport] | None] = {
        "httpx2": None,
        "harness transport": Transport,
    }
    got: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for where, url in urls.items():
            for name, transport in transports.items():
                got.setdefault((where, name), []).append(asyncio.run(per_call_ms(url, transport)))
    print(f"\n## mcp: CPU per call_tool (get_issue), median of {ROUNDS} rounds of {CALLS}")
    print(f"{'':38} {'httpx2':>8} {'harness transport':>18}  (ms)")
    for where in urls:
        a, b = (statistics.median(got[(where, n)]) for n in transports)
        print(f"{where:38} {a:8.3f} {b:18.3f}")
    med = {k: statistics.median(v) for k, v in got.items()}
    gw = med[("gateway /mcp/github", "httpx2")]
    js = med[("fake github, JSON answers", "httpx2")]
    gw_lean = med[("gateway /mcp/github", "harness transport")]
    js_lean = med[("fake github, JSON answers", "harness transport")]
    return [
        (
            "mcp call_tool CPU through the gateway, httpx2 / harness transport",
            "–",
            f"{gw:.3f} / {gw_lean:.3f} ms",
            True,
        ),
        (
            "mcp call_tool CPU, JSON answers, httpx2 / harness transport",
            "–",
            f"{js:.3f} / {js_lean:.3f} ms",
            True,
        ),
    ]


def serve(port: int, mode: str) -> None:
    import logging

    import uvicorn

    from tests.mcp.fakegithub import build

    logging.getLogger("mcp").setLevel(logging.WARNING)
    app = build(None).streamable_http_app(json_response=mode == "json")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]), sys.argv[3])
