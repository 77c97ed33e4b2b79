"""Part ``restart``: after a kill -9, the first new step comes ≤ 1 s after the restart.

A 20-step run (19 tool steps alternating a read and a write, then ``finish`` and the
checker: 43 journal entries) is started as a ``fleet-harness`` process with
``FLEET_HARNESS_KILL_AFTER=SEQ``, so it SIGKILLs itself right after the gateway
acknowledged entry SEQ; then it is started again with ``--resume RUN``. Measured: from
the restart's spawn to its first new journal entry, read off its events (entry SEQ + 1
is a tool entry when SEQ is a model entry, a model entry when SEQ is a tool entry: the
first ``tool`` or ``step`` event past those the replayed entries print again; each is
printed once the gateway acknowledged its entry), and checked against
the journal afterwards (entry SEQ + 1 written by attempt 2, the run ends ``done``, each
write executed once). Ten kill points, five after a model entry and five after a tool
entry. For reference: the bare start-up (spawn to the ``start`` event) of the first
attempts, and of the interpreter alone.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.harness.script import tag
from bench.harness.stack import PY, ROOT, Stack, cpu_s, load, spread

STEPS = 19
ENTRIES = 1 + 2 * STEPS + 4
AFTER_MODEL = (4, 12, 20, 28, 36)
AFTER_TOOL = (7, 15, 23, 31, 39)
TARGET_S = 1.0


def events(proc: subprocess.Popen[bytes], t0: float) -> list[tuple[float, dict[str, Any]]]:
    """The process's events, each with the wall time since ``t0`` it was read at; the
    process's CPU time then is in the event's ``_cpu``."""
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        if line.startswith(b"{"):
            at = time.perf_counter() - t0
            event = orjson.loads(line)
            try:
                event["_cpu"] = cpu_s(proc.pid)
            except OSError:
                event["_cpu"] = float("nan")
            out.append((at, event))
    proc.wait(60)
    return out


def first_new(
    seen: list[tuple[float, dict[str, Any]]], models_before: int, tools_before: int
) -> tuple[float, float] | None:
    """When (wall, and the process's CPU) the resumed attempt's first new entry was acknowledged, by its event: the
    replayed entries print their events again, so the first one past them. (Counted, not
    read off ``replayed``: the step event of the last stored model entry says
    ``replayed: false``, the flag being read once the entry is taken.)"""
    models = tools = 0
    for at, e in seen:
        if e["event"] == "step":
            models += 1
            if models > models_before:
                return at, e["_cpu"]
        if e["event"] == "tool":
            tools += 1
            if tools > tools_before:
                return at, e["_cpu"]
    return None


def one(stack: Stack, gateway: str, path: Path, run_id: str, seq: int) -> dict[str, float]:
    label = tag("m", STEPS, run_id)
    t0 = time.perf_counter()
    proc = stack.spawn(gateway, run_id, path, label, FLEET_HARNESS_KILL_AFTER=str(seq))
    first = events(proc, t0)
    if proc.returncode != -signal.SIGKILL:
        raise SystemExit(f"restart: {run_id} was not killed at {seq}: exit {proc.returncode}")
    journal = stack.read(gateway, run_id)["journal"]
    if len(journal) != seq:
        raise SystemExit(f"restart: {run_id} killed after {seq} holds {len(journal)} entries")
    tools_before = sum(1 for e in journal if e["kind"] == "tool")
    models_before = sum(1 for e in journal if e["kind"] == "model")
    t1 = time.perf_counter()
    proc = stack.spawn(gateway, run_id, path, label, resume=True)
    again = events(proc, t1)
    if proc.returncode != 0:
        raise SystemExit(f"restart: resumed {run_id} exited {proc.returncode}")
    new = first_new(again, models_before, tools_before)
    data = stack.read(gateway, run_id)
    entries = data["journal"]
    if (
        new is None
        or data["run"]["outcome"] != "done"
        or len(entries) != ENTRIES
        or entries[seq]["attempt"] != 2
        or entries[seq - 1]["attempt"] != 1
    ):
        raise SystemExit(f"restart: {run_id} did not resume at {seq + 1}: {data['run']}")
    start = next((at, e["_cpu"]) for at, e in again if e["event"] == "start")
    return {
        "seq": seq,
        "first_new": new[0],
        "first_new_cpu": new[1],
        "restart_start": start[0],
        "restart_start_cpu": start[1],
        "fresh_start": next(at for at, e in first if e["event"] == "start"),
    }


IMPORTS = """
import time, sys
marks = [("python start-up", time.process_time())]
import harness.runner
marks.append(("import harness.runner (before the start event)", time.process_time()))
if sys.argv[1] == "openai":
    import openai
    marks.append(("import openai (a model call next)", time.process_time()))
else:
    import mcp.client.session, mcp.client.streamable_http
    marks.append(("import mcp client (a tool call next)", time.process_time()))
    import jsonschema
    marks.append(("import jsonschema (mcp's first result validation)", time.process_time()))
import httpx2
from harness.transport import Transport
httpx2.AsyncClient(transport=Transport()); httpx2.AsyncClient(transport=Transport())
marks.append(("2 more httpx2 clients on harness.transport", time.process_time()))
last = 0.0
for name, t in marks:
    print(f"{name}\t{(t - last) * 1000:.0f}")
    last = t
"""


def import_cpu() -> dict[str, list[tuple[str, float]]]:
    """CPU (ms) of what a restart imports before its first new entry, as fresh processes
    see it, by path."""
    out = {}
    for path in ("openai", "mcp"):
        res = subprocess.run(
            [PY, "-c", IMPORTS, path], capture_output=True, text=True, check=True, cwd=ROOT
        )
        out[path] = [
            (name, float(ms)) for name, ms in (line.split("\t") for line in res.stdout.splitlines())
        ]
    return out


def bare_python(runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([PY, "-c", "pass"], check=True)
        out.append(time.perf_counter() - t)
    return out


def measure(stack: Stack) -> list[tuple[str, str, str, bool]]:
    gateway = stack.gateway("sqlite")
    path = stack.content()
    nonce = os.urandom(3).hex()
    before = len(stack.executed())
    rows = []
    for seq in sorted(AFTER_MODEL + AFTER_TOOL):
        rows.append(one(stack, gateway, path, f"restart-{seq}-{nonce}", seq))
    executed = stack.executed()[before:]
    bodies = Counter(e["args"]["body"] for e in executed if e["tool"] == "comment")
    twice = sum(n - 1 for n in bodies.values())
    writes = STEPS // 2
    if twice or len(bodies) != writes * len(rows):
        raise SystemExit(f"restart: writes executed {sum(bodies.values())}, distinct {len(bodies)}")
    python = bare_python()
    ms = 1000.0
    print(f"\n## restart: kill -9 after entry SEQ, then --resume ({load()})")
    print(
        f"{'SEQ':>4} {'after':>6} {'fresh start':>12} {'restart start':>14} {'1st new entry':>14}"
        f" {'CPU to start':>13} {'CPU to 1st new':>15}  (ms from spawn)"
    )
    for r in rows:
        kind = "model" if r["seq"] in AFTER_MODEL else "tool"
        print(
            f"{r['seq']:>4} {kind:>6} {r['fresh_start'] * ms:12.0f} "
            f"{r['restart_start'] * ms:14.0f} {r['first_new'] * ms:14.0f}"
            f" {r['restart_start_cpu'] * ms:13.0f} {r['first_new_cpu'] * ms:15.0f}"
        )
    print(f"writes executed once each: {len(bodies)} of {writes * len(rows)}, none twice")
    firsts = [r["first_new"] for r in rows]
    by_model = [r["first_new"] for r in rows if r["seq"] in AFTER_MODEL]
    by_tool = [r["first_new"] for r in rows if r["seq"] in AFTER_TOOL]
    print(
        f"first new entry, median: after a model entry (a tool call next) {statistics.median(by_model) * ms:.0f} ms, "
        f"after a tool entry (a model call next) {statistics.median(by_tool) * ms:.0f} ms"
    )
    print("CPU of a fresh process's imports on the way to its first new entry (ms):")
    for marks in import_cpu().values():
        print("  " + "; ".join(f"{name} {cost:.0f}" for name, cost in marks))
    fmt = "{:.0f} / {:.0f} / {:.0f} ms"
    return [
        (
            "kill -9 → restart → first new journal entry",
            f"≤ {TARGET_S * ms:.0f} ms",
            fmt.format(*(x * ms for x in spread(firsts))),
            statistics.median(firsts) <= TARGET_S and max(firsts) <= TARGET_S,
        ),
        (
            "harness bare start-up (spawn → start event)",
            "–",
            fmt.format(*(r * ms for r in spread([r["fresh_start"] for r in rows]))),
            True,
        ),
        (
            "python -c pass, for reference",
            "–",
            fmt.format(*(x * ms for x in spread(python))),
            True,
        ),
    ]
