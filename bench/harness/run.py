"""Harness benchmark: the loop runtime's own cost, its durable writes, against the OpenAI
Agents SDK, many runs at once, and resuming after kill -9, through the real gateway.

    .venv/bin/python -m bench.harness.run [--only cpu,mcp,write,sdk,fleet,restart] [--no-pin]

The gateway (``python -m gateway``), the scripted provider of ``tests/harness``
(``provider.py``, playing ``script.py``) and the fake github MCP server of
``tests/mcp`` (official SDK) each run as a process of their own on loopback, pinned to
core 1; the harness (this process, and the ``fleet-harness`` processes it spawns) to
core 0. Each part prints its own detail; the table at the end has one row per measure
with its target. Wall times on a shared machine include the time others' work kept a
CPU from us: the parts print the load average, and where it matters the time spent
runnable but waiting for a CPU, beside the CPU time the work itself took.

Parts: ``cpu`` (cpu.py), ``mcp`` (mcp.py), ``write`` (write.py), ``sdk`` (sdk.py), ``fleet`` (fleet.py),
``restart`` (restart.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import cpu, fleet, mcp, restart, sdk, write
from bench.harness.stack import Stack, load

Row = tuple[str, str, str, bool]
PARTS: dict[str, Callable[[Stack], list[Row]]] = {
    "cpu": cpu.measure,
    "mcp": mcp.measure,
    "write": write.measure,
    "sdk": sdk.measure,
    "fleet": fleet.measure,
    "restart": restart.measure,
}


def table(rows: list[Row]) -> str:
    width = max(len(r[0]) for r in rows)
    twidth = max(len("target"), *(len(r[1]) for r in rows))
    mwidth = max(len("measured (min / median / max)"), *(len(r[2]) for r in rows))
    out = [
        f"{'measure':<{width}} | {'target':<{twidth}} | {'measured (min / median / max)':<{mwidth}} | met?",
        f"{'-' * width}-|-{'-' * twidth}-|-{'-' * mwidth}-|-----",
    ]
    for name, target, measured, met in rows:
        verdict = "–" if target == "–" else ("yes" if met else "NO")
        out.append(f"{name:<{width}} | {target:<{twidth}} | {measured:<{mwidth}} | {verdict}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated parts: " + ",".join(PARTS))
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="leave cores to the scheduler"
    )
    args = parser.parse_args()
    wanted = [p.strip() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = [p for p in wanted if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}")
    # A TERM ends the run through the finally block: the services stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[Row] = []
    started = time.perf_counter()
    print(f"harness bench: {', '.join(wanted)} ({load()})")
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        stack = Stack(Path(tmp), pin=args.pin)
        try:
            stack.start()
            for part in wanted:
                t = time.perf_counter()
                rows += PARTS[part](stack)
                print(f"({part}: {time.perf_counter() - t:.0f} s)")
        finally:
            stack.stop()
    print(f"\n## harness bench, {time.perf_counter() - started:.0f} s ({load()})\n")
    print(table(rows))


if __name__ == "__main__":
    main()
