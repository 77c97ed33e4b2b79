"""Part ``cpu``: the harness's own CPU per step, without model and tool time (target ≤ 1 ms
median).

``fleet-harness`` runs as a real process on a 50-step script (each maker step one MCP
tool call through the gateway, alternating a read and a write; then ``finish`` and a
checker pass), the gateway, the scripted provider and the MCP server in processes of
their own. The CPU between two ``step`` events is one step: the tool call and its
journal entry, the next model call and its journal entry, the events. Waiting for the
model, the tool and the gateway costs no CPU. Two figures per step:

- *own*: the process runs with ``FLEET_HARNESS_CPU_SPLIT=1`` (:mod:`harness.cpu`), so each
  step event carries the process's CPU clock and the thread CPU spent so far inside the
  model calls (``Models.complete``: the openai client and its HTTP) and the tool calls
  (``McpTools.call``: the mcp client and its HTTP); own = process − model − tool, between
  two events. This is the target's measure.
- *whole*: at each step event the bench reads the harness process's CPU clock from outside
  (utime + stime of every thread, to the nanosecond; ``/proc/<pid>/stat`` counts the same
  in 10 ms ticks and is shown as a cross-check), everything the clients spend included.

Each round runs the shipped transport (:mod:`harness.transport`) with the account on, the
same with it off (its whole figure shows what the account costs), and
``FLEET_HARNESS_HTTP=httpx`` (httpx2's own stack) with the account on, so all see the
same load.

Then one run in-process under cProfile, timed by the thread's CPU clock (so time spent
waiting in epoll counts nothing), after a warm-up run: the top self-time functions per step.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import gc
import itertools
import os
import pstats
import re
import statistics
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.harness.script import tag
from bench.harness.stack import ROOT, Stack, cpu_s, pct, spread, stat_cpu_s

STEPS = 50
TARGET_MS = 1.0


@dataclass
class Trace:
    startup: float
    """CPU before the ``start`` event: interpreter, imports, settings, opening and reading the run."""
    first: float
    """CPU from ``start`` to the first step: the context entry, the clients' imports, the MCP
    session and tool listing, the first model call."""
    steps: list[float]
    """CPU between consecutive maker step events (one tool step + the next model step)."""
    parts: dict[str, list[float]]
    """The split between the same events (``own``, ``model``, ``tool``, ``journal``,
    ``gc``, from the events' ``cpu``), when the account was on; else empty."""
    checker: float
    tail: float
    total: float
    total_ticks: float


KINDS = {
    "lean": ("n", {}),
    "off": ("o", {"FLEET_HARNESS_CPU_SPLIT": "0"}),
    "httpx": ("x", {"FLEET_HARNESS_HTTP": "httpx"}),
}
"""The processes of a round: the shipped defaults with the account on, then each with one
thing changed (the account off, httpx2's own HTTP stack)."""


def one_process(stack: Stack, gateway: str, path: Path, run_id: str, **env: str) -> Trace:
    """One ``fleet-harness`` process's CPU marks, with the CPU account on unless ``env``
    (more of the process's environment) turns it off."""
    proc = stack.spawn(
        gateway, run_id, path, tag("m", STEPS, run_id), **{"FLEET_HARNESS_CPU_SPLIT": "1", **env}
    )
    assert proc.stdout is not None
    marks: list[tuple[str, str, float]] = []
    accounts: list[dict[str, float]] = []
    end_ticks = 0.0
    for line in proc.stdout:
        now = cpu_s(proc.pid)
        event = orjson.loads(line)
        marks.append((event["event"], event.get("scope", ""), now))
        if event["event"] == "step" and event.get("scope") == "main" and "cpu" in event:
            accounts.append(event["cpu"])
        if event["event"] == "end":
            end_ticks = stat_cpu_s(proc.pid)
            if event["outcome"] != "done":
                raise SystemExit(f"cpu: run {run_id} ended {event['outcome']}: {event}")
            break
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise SystemExit(f"cpu: fleet-harness exited {proc.returncode}: {err.decode()[-500:]}")
    start = next(c for e, _, c in marks if e == "start")
    steps = [(scope, c) for e, scope, c in marks if e == "step"]
    main = [c for scope, c in steps if scope == "main"]
    check = next(c for scope, c in steps if scope.startswith("check:"))
    end = marks[-1][2]
    parts: dict[str, list[float]] = {}
    for a, b in itertools.pairwise(accounts):
        d = {k: (b[f"{k}_ms"] - a[f"{k}_ms"]) / 1000 for k in ("process", "model", "tool")}
        parts.setdefault("own", []).append(d["process"] - d["model"] - d["tool"])
        parts.setdefault("model", []).append(d["model"])
        parts.setdefault("tool", []).append(d["tool"])
        for k in ("journal", "gc"):
            parts.setdefault(k, []).append((b[f"{k}_ms"] - a[f"{k}_ms"]) / 1000)
    return Trace(
        startup=start,
        first=main[0] - start,
        steps=[b - a for a, b in itertools.pairwise(main)],
        parts=parts,
        checker=check - main[-1],
        tail=end - check,
        total=end,
        total_ticks=end_ticks,
    )


def _where(path: str) -> str:
    site = sysconfig.get_paths()["purelib"]
    std = sysconfig.get_paths()["stdlib"]
    for base in (site, str(ROOT), std):
        if path.startswith(base + os.sep):
            return path[len(base) + 1 :]
    return path


# Where a step's CPU goes, without a profiler's overhead: the thread's CPU time inside
# each of these, summed over a run (a run is sequential, so what runs while one of them
# awaits is its own work: the MCP session's reader, the HTTP connection).
ATTRIBUTED = (
    (
        "harness.models",
        "Models.complete",
        "model call (harness/models.py Models.complete: openai client, HTTP)",
    ),
    ("harness.models", "_reply", "  of which: reading the reply's JSON (harness/models.py _reply)"),
    ("harness.runs", "Runs.append", "journal appends (harness/runs.py Runs.append)"),
    (
        "harness.mcptools",
        "McpTools.call",
        "tool call (harness/mcptools.py McpTools.call: mcp client, HTTP)",
    ),
    ("harness.mcptools", "McpTools.list", "tool listing + MCP session set-up (McpTools.list)"),
    ("harness.events", "Events.emit", "events (harness/events.py Events.emit)"),
)
"""A label starting with a space is a part of the row above it, not summed again."""


def attribute(run_once: Any) -> tuple[float, int, dict[str, float]]:
    """Run ``run_once`` with :data:`ATTRIBUTED` wrapped: (CPU, steps, label → CPU)."""
    import functools
    import importlib
    import inspect

    spent: dict[str, float] = {}
    undo = []
    for module, dotted, label in ATTRIBUTED:
        owner: Any = importlib.import_module(module)
        *path, name = dotted.split(".")
        for part in path:
            owner = getattr(owner, part)
        orig = getattr(owner, name)

        def wrapper(orig: Any = orig, label: str = label) -> Any:
            if inspect.iscoroutinefunction(orig):

                @functools.wraps(orig)
                async def timed(*a: Any, **k: Any) -> Any:
                    t = time.thread_time()
                    try:
                        return await orig(*a, **k)
                    finally:
                        spent[label] = spent.get(label, 0.0) + time.thread_time() - t

                return timed

            @functools.wraps(orig)
            def timed_sync(*a: Any, **k: Any) -> Any:
                t = time.thread_time()
                try:
                    return orig(*a, **k)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.thread_time() - t

            return timed_sync

        setattr(owner, name, wrapper())
        undo.append((owner, name, orig))
    try:
        gc.collect()
        t = time.thread_time()
        end = run_once()
        total = time.thread_time() - t
    finally:
        for owner, name, orig in undo:
            setattr(owner, name, orig)
    return total, end.usage.steps, spent


def profile(stack: Stack, gateway: str, path: Path, nonce: str) -> dict[str, Any]:
    from harness.events import Events
    from harness.runner import Runner, run

    def run_once(name: str, lean: bool) -> Any:
        rid = f"{name}-{nonce}"
        events = Events("jsonl", open(os.devnull, "w"))  # noqa: SIM115 (closed with the process)
        settings = stack.settings(gateway, rid, path, tag("m", STEPS, rid))
        runner = Runner(dataclasses.replace(settings, lean_http=lean), events)
        return asyncio.run(runner.run())

    run_once("prof-warm", lean=False)
    attributed = attribute(lambda: run_once("prof-attr", lean=False))
    run_once("prof-warm-t", lean=True)
    streamed = attribute(lambda: run_once("prof-attr-t", lean=True))
    run_id = f"prof-{nonce}"
    settings = stack.settings(gateway, run_id, path, tag("m", STEPS, run_id))
    gc.collect()
    prof = cProfile.Profile(time.thread_time_ns, 1e-9)
    cpu0 = time.thread_time()
    prof.enable()
    end = asyncio.run(run(settings, Events("none")))
    prof.disable()
    cpu = time.thread_time() - cpu0
    if end.outcome != "done":
        raise SystemExit(f"cpu: profiled run ended {end.outcome}")
    steps = end.usage.steps
    stats = pstats.Stats(prof)
    rows = []
    packages: dict[str, float] = {}
    for (file, line, name), (_, calls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _where(file) if file != "~" else "(built-in)"
        rows.append((tottime, calls, f"{where}:{line}({name})" if file != "~" else name))
        pkg = re.split(r"[/\\]", where)[0].removesuffix(".py") if file != "~" else "(built-in)"
        packages[pkg] = packages.get(pkg, 0.0) + tottime
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    return {
        "attributed": attributed,
        "streamed": streamed,
        "steps": steps,
        "cpu_per_step_ms": cpu / steps * 1000,
        "profiled_per_step_ms": total / steps * 1000,
        "top": [(t / steps * 1e6, t / total, calls / steps, name) for t, calls, name in rows[:10]],
        "packages": sorted(
            ((t / steps * 1e6, t / total, p) for p, t in packages.items()), reverse=True
        )[:10],
    }


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(stack: Stack, reps: int = 5) -> list[tuple[str, str, str, bool]]:
    gateway = stack.gateway("sqlite")
    path = stack.content()
    nonce = os.urandom(3).hex()
    rounds: dict[str, list[Trace]] = {kind: [] for kind in KINDS}
    loads: list[float] = []
    for i in range(reps):  # interleaved, so all see the same load
        loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
        for kind, (letter, env) in KINDS.items():
            run_id = f"cpu-{letter}{i}-{nonce}"
            rounds[kind].append(one_process(stack, gateway, path, run_id, **env))
    ms = 1000.0
    print(f"\n## cpu: fleet-harness process, {STEPS}-step script + finish + checker, {reps} rounds")
    print(
        "(a round: the defaults (harness.transport) with FLEET_HARNESS_CPU_SPLIT=1 (rows n), the "
        "same with the account off (o), with FLEET_HARNESS_HTTP=httpx (x); load average 1 min "
        "at each round's start: "
        f"{' '.join(f'{v:.2f}' for v in loads)})"
    )
    print(
        "whole = the process's CPU between two step events, read from outside; own = whole − "
        "model − tool, from the events' account; gc is a mean (the collector runs in bursts)"
    )
    print(
        f"{'run':>4} {'startup':>8} {'1st step':>9} {'whole p50':>9} {'p90':>6} {'own p50':>8} "
        f"{'p90':>6} {'model':>6} {'tool':>6} {'journal':>7} {'gc':>6} {'first10':>7} "
        f"{'last10':>7} {'checker':>7} {'total':>7} {'ticks':>6}  (ms CPU)"
    )
    for kind, (letter, _) in KINDS.items():
        for i, t in enumerate(rounds[kind]):
            p = t.parts
            gc_mean = statistics.fmean(p["gc"]) if p else float("nan")
            print(
                f"{letter + str(i):>4} {t.startup * ms:8.1f} {t.first * ms:9.1f} "
                f"{_p50(t.steps) * ms:9.3f} {pct(t.steps, 90) * ms:6.3f} "
                f"{_p50(p.get('own', [])) * ms:8.3f} "
                f"{(pct(p['own'], 90) if p else float('nan')) * ms:6.3f} "
                f"{_p50(p.get('model', [])) * ms:6.3f} {_p50(p.get('tool', [])) * ms:6.3f} "
                f"{_p50(p.get('journal', [])) * ms:7.3f} {gc_mean * ms:6.3f} "
                f"{_p50(t.steps[:10]) * ms:7.3f} {_p50(t.steps[-10:]) * ms:7.3f} "
                f"{t.checker * ms:7.2f} {t.total * ms:7.1f} {t.total_ticks * ms:6.0f}"
            )
    traces = rounds["lean"]
    own = [_p50(t.parts["own"]) * ms for t in traces]
    own_p90 = [pct(t.parts["own"], 90) * ms for t in traces]
    own_httpx = [_p50(t.parts["own"]) * ms for t in rounds["httpx"]]

    medians = [_p50(t.steps) * ms for t in traces]
    off_medians = [_p50(t.steps) * ms for t in rounds["off"]]
    httpx_medians = [_p50(t.steps) * ms for t in rounds["httpx"]]
    model = [_p50(t.parts["model"]) * ms for t in traces]
    tool = [_p50(t.parts["tool"]) * ms for t in traces]
    journal = [_p50(t.parts["journal"]) * ms for t in traces]
    gcs = [statistics.fmean(t.parts["gc"]) * ms for t in traces]
    p90s = [pct(t.steps, 90) * ms for t in traces]
    startups = [t.startup * ms for t in traces]
    firsts = [t.first * ms for t in traces]
    prof = profile(stack, gateway, path, nonce)
    print(
        "\nwhere a step's CPU goes (in-process, no profiler: thread CPU inside each, per model "
        "step), with httpx2's own transport under the openai and mcp clients "
        "(FLEET_HARNESS_HTTP=httpx) and with harness/transport.py (the default):"
    )
    runs = (prof["attributed"], prof["streamed"])
    print(f"{'httpx2':>9} {'harness':>9}")
    print(
        " ".join(f"{total / steps * ms:9.3f}" for total, steps, _ in runs) + " ms  in all, per step"
    )
    shown = [0.0, 0.0]
    for _, _, label in ATTRIBUTED:
        values = [spent.get(label, 0.0) / steps * ms for _, steps, spent in runs]
        if not label.startswith(" "):
            shown = [a + b for a, b in zip(shown, values, strict=True)]
        print(" ".join(f"{v:9.3f}" for v in values) + f" ms  {label}")
    rest = [total / steps * ms - s for (total, steps, _), s in zip(runs, shown, strict=True)]
    print(" ".join(f"{v:9.3f}" for v in rest) + " ms  the rest (runner, journal, replay logic, GC)")
    print(
        f"\nprofile (in-process, cProfile on the thread's CPU clock, {prof['steps']} model steps): "
        f"{prof['cpu_per_step_ms']:.2f} ms CPU per step under the profiler "
        f"({prof['profiled_per_step_ms']:.2f} ms attributed)"
    )
    print(f"{'µs/step':>8} {'share':>6} {'calls/step':>10}  top self-time functions")
    for us, share, calls, name in prof["top"]:
        print(f"{us:8.1f} {share * 100:5.1f}% {calls:10.1f}  {name}")
    print(f"{'µs/step':>8} {'share':>6}  by package (self time)")
    for us, share, pkg in prof["packages"]:
        print(f"{us:8.1f} {share * 100:5.1f}%  {pkg}")
    fmt = "{:.3f} / {:.3f} / {:.3f} ms"
    return [
        (
            "harness's own CPU per step (process − model call − tool call), median of each run",
            f"≤ {TARGET_MS:g} ms",
            fmt.format(*spread(own)),
            statistics.median(own) <= TARGET_MS,
        ),
        ("the same, p90 of each run", "–", fmt.format(*spread(own_p90)), True),
        (
            "  of it: journal appends (two a step) / the collector (mean)",
            "–",
            f"{statistics.median(journal):.3f} / {statistics.median(gcs):.3f} ms (medians)",
            True,
        ),
        (
            "model call / tool call CPU per step (openai / mcp client + HTTP)",
            "–",
            f"{statistics.median(model):.3f} / {statistics.median(tool):.3f} ms (medians)",
            True,
        ),
        (
            "whole process CPU per step, clients included, median of each run",
            "–",
            fmt.format(*spread(medians)),
            True,
        ),
        ("the same with the account off", "–", fmt.format(*spread(off_medians)), True),
        (
            "the same with FLEET_HARNESS_HTTP=httpx: whole / own (medians)",
            "–",
            f"{statistics.median(httpx_medians):.3f} / {statistics.median(own_httpx):.3f} ms",
            True,
        ),
        ("whole process CPU per step, p90 (of each run)", "–", fmt.format(*spread(p90s)), True),
        (
            "in-process CPU per step, httpx2 / harness.transport under openai + mcp",
            "–",
            " / ".join(f"{total / steps * ms:.3f}" for total, steps, _ in runs) + " ms",
            True,
        ),
        (
            "whole process CPU per step, first 10 → last 10 steps (median)",
            "–",
            f"{statistics.median(_p50(t.steps[:10]) for t in traces) * ms:.1f} → "
            f"{statistics.median(_p50(t.steps[-10:]) for t in traces) * ms:.1f} ms",
            True,
        ),
        (
            "harness CPU before the start event",
            "–",
            "{:.0f} / {:.0f} / {:.0f} ms".format(*spread(startups)),
            True,
        ),
        (
            "harness CPU start → first step",
            "–",
            "{:.0f} / {:.0f} / {:.0f} ms".format(*spread(firsts)),
            True,
        ),
    ]
