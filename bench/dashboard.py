"""Benchmark: the dashboard's fleet page for 1,000 loops with 30 days of runs (target
<= 150 ms at the server), its cost page over the same store (the fleet page's target), and
the run page of a 200-step run (target <= 50 ms).

The fleet and the store are bench/lifecycle.py's (genfleet's 1,000 loops, ~200,000 run
records and their call traces in the gateway's SQLite store); the 200-step run is opened
through the runs API's own writer (:mod:`gateway.runs.records`) with a journal entry and
a model trace per step. Each page is asked for through the dashboard's ASGI app in this
process (httpx's ASGITransport: no socket, so what is timed is the server's work: store
reads, view, template), the median of ``--runs``, in wall time and in this process's CPU
time (the machine is shared: the load average is printed beside the figures). The fleet
and cost pages render the fleet view (:mod:`dashboard.view`), rebuilt in the background
when older than ``--refresh``: its build is timed apart, with and without the cost page's
sums (which a build keeps for 300 s), and by part (wall time). The store reads are its sums
of the window and the run heads (dashboard/sums.py), not its decoded call traces.

Run: ``.venv/bin/python bench/dashboard.py [--runs 5] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from lifecycle import DAYS, LOOPS, fill_store, make_fleet  # noqa: E402

STEPS = 200
RUN = "bench-run-200-steps"


async def long_run(url: str, loop: str) -> None:
    from gateway.runs import records
    from gateway.store import open_store

    st = open_store(url)
    try:
        await records.open_run(st, RUN, loop, "bench", None)
        for seq in range(1, STEPS + 1):
            found = await records.get(st, RUN)
            assert found is not None
            entry = {"kind": "model", "step": seq, "member": loop, "cost_usd": 0.001}
            await records.append(st, found, seq, orjson.dumps(entry), {"steps": seq})
            await st.write_trace({
                "ts": time.time(), "kind": "llm", "loop": loop, "member": loop, "run": RUN,
                "step": seq, "virtual_model": "default", "target": "openai/gpt-5-mini",
                "status": 200, "tokens_in": 1200, "tokens_out": 80, "cost_usd": 0.00046,
                "latency_ms": 420.0,
            })  # fmt: skip
    finally:
        await st.close()


async def measure(fleet: Path, url: str, runs: int) -> dict[str, Any]:
    import httpx
    from markupsafe import Markup

    from dashboard import snapshot
    from dashboard.access import Access
    from dashboard.app import Dashboard, create_app, templates
    from dashboard.attention import doctor_findings
    from dashboard.pages import cost as cost_page
    from dashboard.pages import fleet as fleet_page
    from fleet.source import DirSource
    from fleet.validate import validate
    from gateway.store import open_store

    report = validate(DirSource(fleet, str(fleet)))
    assert report.fleet is not None and not report.errors
    dash = Dashboard(
        loaded=report.fleet,
        open_store=lambda: open_store(url, create=False),
        access=Access(open=True),
        findings=doctor_findings,
        findings_connected=True,
        refresh_s=3600.0,  # the pages are timed on a built view; its build is timed below
    )
    app = create_app(dash)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as c:
        for name, path in PAGES:
            await c.get(path)  # the first read opens the store
            took, cpu = [], []
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                r = await c.get(path)
                cpu.append((time.process_time() - c0) * 1000)
                took.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text[:300]
            out[name] = (statistics.median(took), statistics.median(cpu), len(r.content))
        st = dash.store
        assert st is not None
        parts: dict[str, list[float]] = {
            "store reads": [],
            "doctor": [],
            "rows": [],
            "cost sums": [],
            "page template": [],
        }
        views = app.state.views
        for label, every in (("build", 0.0), ("build keeping the cost sums", 1e9)):
            # refresh 0 sums them in each build; else the last ones are kept for cost_every_s
            views.refresh_s, views.cost_every_s = every and 1.0, every
            wall, cpu = [], []
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                await views.build()
                cpu.append((time.process_time() - c0) * 1000)
                wall.append((time.perf_counter() - t0) * 1000)
            out[label] = (statistics.median(wall), statistics.median(cpu))
        env = templates()
        for _ in range(runs):
            t0 = time.perf_counter()
            snap = await snapshot.read(st, dash.window_days())
            t1 = time.perf_counter()
            found = doctor_findings(dash.loaded, snap)
            t2 = time.perf_counter()
            all_rows = fleet_page.rows(dash.loaded, snap)
            row_template = env.get_template("fleet_row.html")
            for r in all_rows:
                r.html = Markup(row_template.render(r=r))
            base = fleet_page.counts(dash.loaded, snap, all_rows)
            ctx = fleet_page.context(dash.loaded, all_rows, base, 0, {}, found, True, "now")
            t3 = time.perf_counter()
            cost_page.summarize(snap)
            t4 = time.perf_counter()
            env.get_template("fleet.html").render(
                **ctx, session=None, person=None, open=True, path="/"
            )
            t5 = time.perf_counter()
            for k, a, b in (
                ("store reads", t0, t1),
                ("doctor", t1, t2),
                ("rows", t2, t3),
                ("cost sums", t3, t4),
                ("page template", t4, t5),
            ):
                parts[k].append((b - a) * 1000)
        out["parts"] = {k: statistics.median(v) for k, v in parts.items()}
        out["records"] = (len(snap.runs), len(snap.calls), dash.window_days())
    return out


PAGES = (
    ("fleet", "/"),
    ("fleet sorted by cost", "/?sort=cost"),
    ("fleet, degraded loops", "/?health=degraded"),
    ("cost", "/cost"),
    ("run", f"/runs/{RUN}"),
)
TARGETS = {"run": 50.0}
"""Milliseconds at the server; 150 for every page but the run page."""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the fleet and store here, and keep them")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="fleet-dashboard-"))
    work.mkdir(parents=True, exist_ok=True)
    fleet, store = work / "fleet", work / "gateway.sqlite3"
    started = time.perf_counter()
    if not (fleet / "fleet.yaml").exists() or not store.exists():
        make_fleet(fleet)
        if store.exists():
            store.unlink()
        fill_store(store, time.time())
        asyncio.run(long_run(f"sqlite:{store}", "loop-00000"))
    print(f"{LOOPS} loops, {DAYS} days of runs, a {STEPS}-step run "
          f"({time.perf_counter() - started:.0f} s to build)")  # fmt: skip
    got = asyncio.run(measure(fleet, f"sqlite:{store}", opts.runs))
    runs, calls, days = got["records"]
    print(f"the fleet view reads {days} days: {runs:,} run records (or their heads), "
          f"{calls:,} call traces decoded (none when the store sums them)")  # fmt: skip
    for name, _ in PAGES:
        ms, cpu, size = got[name]
        target = TARGETS.get(name, 150.0)
        verdict = "meets" if ms <= target else "MISSES"
        print(f"{name} page: {ms:.1f} ms wall, {cpu:.1f} ms CPU (median of {opts.runs}, "
              f"{size // 1024} KiB; target <= {target:.0f} ms: {verdict}; {load()})")  # fmt: skip
    for label, what in (
        ("build", "building the fleet view (in the background every --refresh seconds)"),
        ("build keeping the cost sums", "a build within 300 s of the last cost sums"),
    ):
        wall, cpu = got[label]
        print(f"{what}: {wall:.0f} ms wall, {cpu:.0f} ms CPU ({load()})")
    print(
        "the view's build by part (store reads: the store's sums, the cost page's included; "
        "rows: row HTML; cost sums: the page's series from them), and the page template: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in got["parts"].items())
    )


if __name__ == "__main__":
    main()
