"""The fleet view from the store's sums (:mod:`dashboard.sums`) shows what the window's
records say: each loop's cost per day, its maker/checker split and budget spend summed here
from the decoded traces, its runs and last outcome from the decoded records, the doctor's
findings as :func:`fleet.doctor.diagnose` gives them over every record, and the cost page
as it is summed from the records themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from dashboard import snapshot
from dashboard.attention import doctor_findings
from dashboard.pages import cost as cost_page
from dashboard.pages import fleet as fleet_page
from fleet.doctor import diagnose
from fleet.load import load_fleet
from fleet.source import DirSource
from gateway.runs import records
from gateway.store.sqlite import SqliteStore
from tests.gateway.test_health_sums import NOW, dataset
from tests.gateway.test_store_reports import _sqlite_rows_created, fill

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0


@pytest.fixture(scope="module")
def loaded() -> Any:
    found, _ = load_fleet(DirSource(ROOT / "examples" / "northwind"))
    assert found is not None
    return found


@pytest.fixture(scope="module")
def read(tmp_path_factory: pytest.TempPathFactory) -> tuple[snapshot.Snapshot, snapshot.Snapshot]:
    return asyncio.run(_read(tmp_path_factory.mktemp("sums") / "gw.sqlite3"))


async def _read(path: Path) -> tuple[snapshot.Snapshot, snapshot.Snapshot]:
    """(the view's snapshot as the dashboard reads it, one of every decoded record)."""
    traces, runs = dataset()
    writer = SqliteStore(path, apply_interval=0.0)
    await fill(writer, traces, runs)
    await writer.close()
    _sqlite_rows_created(path, runs)
    store = SqliteStore(path)
    try:
        snap = await snapshot.read(store, 7, now=NOW)
        since = NOW - 7 * DAY
        decoded = snapshot.Snapshot(
            NOW,
            since,
            await records.page(store, since, 0, 10**9),
            await store.query_traces(since=since, limit=10**9),
            [],
        )
    finally:
        await store.close()
    return snap, decoded


def test_the_view_decodes_no_call(read: tuple[snapshot.Snapshot, snapshot.Snapshot]) -> None:
    snap, decoded = read
    assert snap.sums is not None and snap.calls == [] and len(decoded.calls) > 100
    assert [r["id"] for r in snap.runs] == [r["id"] for r in decoded.runs]


@pytest.mark.parametrize("summed", ["by the store", "from the decoded records"])
def test_each_loops_cost_columns_are_its_calls_sums(
    loaded: Any, read: tuple[snapshot.Snapshot, snapshot.Snapshot], summed: str
) -> None:
    snap, decoded = read
    if summed != "by the store":
        snap = decoded  # the Python fold of the records (a Redis store's sums)
    midnight = dt.datetime.combine(
        dt.datetime.fromtimestamp(NOW, dt.UTC).date(), dt.time(), dt.UTC
    ).timestamp()
    daily: dict[str, list[float]] = defaultdict(lambda: [0.0] * 7)
    maker: dict[str, float] = defaultdict(float)
    week: dict[str, float] = defaultdict(float)
    for c in decoded.calls:
        age = int((midnight + DAY - c["ts"]) // DAY)
        if c.get("loop") and c.get("cost_usd") and 0 <= age < 7:
            daily[c["loop"]][6 - age] += c["cost_usd"]
            maker[c["loop"]] += c["cost_usd"] if c.get("member") in (None, c["loop"]) else 0.0
            week[c["loop"]] += c["cost_usd"]
    rows = {r.name: r for r in fleet_page.rows(loaded, snap)}
    assert set(rows) == {a.agent.name for a in loaded.agents}
    spent = 0
    for name, row in rows.items():
        assert row.daily == pytest.approx(daily[name], abs=1e-9), name
        assert row.maker_usd == pytest.approx(maker[name], abs=1e-9)
        assert row.checker_usd == pytest.approx(week[name] - maker[name], abs=1e-9)
        ended = [r for r in decoded.runs if r["loop"] == name and r["status"] == "ended"]
        assert row.last_run == (ended[0]["id"] if ended else "")
        assert row.runs == sum(1 for r in ended if r["started"] >= NOW - 7 * DAY)
        assert row.useful == sum(1 for r in ended if r["outcome"] == "done")
        spent += sum(row.daily) > 0
    assert spent >= 6  # most of the loops spent in the window


def test_the_findings_and_the_cost_page_are_those_of_every_record(
    loaded: Any, read: tuple[snapshot.Snapshot, snapshot.Snapshot]
) -> None:
    snap, decoded = read
    agents = [a.agent for a in loaded.agents]
    old = diagnose(loaded.fleet, agents, decoded.runs, decoded.calls, now=NOW, since=snap.since)
    assert [(f.loop, f.code, f.message) for f in doctor_findings(loaded, snap)] == [
        (f.loop, f.check, f.evidence) for f in old
    ]
    assert len(old) >= 3
    new, was = cost_page.summarize(snap), cost_page.summarize(decoded)
    assert new.days == was.days and new.total_usd == pytest.approx(was.total_usd, abs=1e-9)
    for a, b in zip(new.breakdowns, was.breakdowns, strict=True):
        assert [g.key for g in a.report.groups] == [g.key for g in b.report.groups]
        assert [s.key for s in a.series] == [s.key for s in b.series]
        for s, t in zip(a.series, b.series, strict=True):
            assert s.daily == pytest.approx(t.daily, abs=1e-9)
