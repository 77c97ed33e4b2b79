"""What the needs-attention panel and the cost page take from the store's sums.

The doctor's findings, the cost page's tables and bars and the fleet page's cost columns
were computed from every run
record and call trace of the view's window, decoded: at 1,000 loops a third of a view
build. The store sums them instead (:meth:`gateway.store.Store.read_report`: SQL over the
projected columns and day rows of a SQLite store, one linear pass over the decoded records
of a Redis one), as ``fleetctl doctor`` and ``fleetctl cost`` read them, so the panel and
the page show what the commands print. :func:`of_records` folds records already in hand
the same way (:class:`gateway.store.report.PyReports`).
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Any

from fleet.doctor import WEEK
from fleet.economics import USEFUL, CostReport, report_from_sums
from gateway.store.report import PyReports, Reports

DAY_S = 86400.0
COST_BY = ("team", "model", "role")
LOOP_DAYS = 7
"""The dates the fleet page's sparklines and split cover."""


@dataclass(frozen=True)
class Sums:
    heads: list[dict[str, Any]]
    """The window's run records, the fields the checks read."""
    spend: dict[str, tuple[float, float]]
    """Each loop's spend in the 7 days before the last 7, and in the last 7."""
    wrote: set[str]
    """The runs with a successful write or destructive tool call."""
    days: list[str]
    """The UTC dates the window touches, oldest first (the first one partly)."""
    reports: dict[str, CostReport]
    """``fleetctl cost --by team|model|role`` over the window."""
    daily: dict[str, dict[str, list[float]]]
    """Per dimension, each group's cost on each of ``days`` (groups that spent nothing left
    out)."""
    loops: dict[str, LoopSums]
    """The fleet page's figures of each loop that spent in the window."""


@dataclass(frozen=True)
class LoopSums:
    daily: list[float]
    """Cost on each of the last :data:`LOOP_DAYS` dates, today last."""
    maker_usd: float
    checker_usd: float
    """Of those days' cost, the loop's own calls' and its sub-agents'."""
    spent: dict[int, float]
    """Cost from the start of the date 1, 7 and 30 days back (today included), in the window."""


def dates(since: float, now: float) -> tuple[list[str], list[float]]:
    """The dates the window touches and when each begins (the first at ``since``)."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    first = dt.datetime.fromtimestamp(min(since, now), dt.UTC).date()
    n = (today - first).days + 1
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC).timestamp()
    starts = [max(since, midnight - (n - 1 - i) * DAY_S) for i in range(n)]
    return [(today - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)], starts


def _from_each(r: Reports, by: str, starts: list[float]) -> list[dict[str, dict[str, float]]]:
    """Per start (ascending), each group's cost and maker cost from it on. A store sums from
    a time on (whole days from its day rows); over decoded records each trace is bucketed by
    day once and each day summed alone, so many starts never mean many passes."""
    if not isinstance(r, PyReports):
        return [{g["key"]: g for g in r.call_groups(s, by, USEFUL)} for s in starts]
    days: list[list[dict[str, Any]]] = [[] for _ in starts]
    for t in r.traces:
        i = bisect.bisect_right(starts, t.get("ts") or 0.0) - 1
        if i >= 0:
            days[i].append(t)
    out: list[dict[str, dict[str, float]]] = []
    acc: dict[str, dict[str, float]] = {}
    for i in reversed(range(len(starts))):
        for g in PyReports(days[i], []).call_groups(starts[i], by, USEFUL):
            a = acc.setdefault(g["key"], {"cost_usd": 0.0, "maker_usd": 0.0})
            a["cost_usd"] += g["cost_usd"]
            a["maker_usd"] += g["maker_usd"]
        out.append({k: dict(v) for k, v in acc.items()})
    return out[::-1]


def _daily(r: Reports, by: str, starts: list[float]) -> dict[str, list[float]]:
    """Each group's cost per day: its sums from each day's start on, less the next day's."""
    n = len(starts)
    if by == "role":  # a call is the maker's or a sub-agent's: the loops' sums split it
        # (a store's role groups count the runs each touched too, a join per start)
        loops = _from_each(r, "loop", starts)
        cum = [
            {"maker": sum(g["maker_usd"] for g in c.values()),
             "sub-agent": sum(g["cost_usd"] - g["maker_usd"] for g in c.values())}
            for c in loops
        ]  # fmt: skip
    else:
        cum = [{k: g["cost_usd"] for k, g in c.items()} for c in _from_each(r, by, starts)]
    out: dict[str, list[float]] = {}
    for key, total in cum[0].items():
        if not total:
            continue
        row = [cum[i].get(key, 0.0) - (cum[i + 1].get(key, 0.0) if i + 1 < n else 0.0)
               for i in range(n)]  # fmt: skip
        out[key] = [round(v, 10) for v in row]  # a difference of sums: no float dust
    return out


def _loops(r: Reports, since: float, now: float) -> dict[str, LoopSums]:
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC).timestamp()
    starts = [max(since, midnight - back * DAY_S) for back in (29, *range(LOOP_DAYS - 1, -1, -1))]
    month, *cum = _from_each(r, "loop", starts)
    out = {}
    for loop, g in month.items():
        cost = [cum[i].get(loop, {}).get("cost_usd", 0.0) for i in range(LOOP_DAYS)]
        daily = [round(cost[i] - (cost[i + 1] if i + 1 < LOOP_DAYS else 0.0), 10)
                 for i in range(LOOP_DAYS)]  # fmt: skip
        maker = cum[0].get(loop, {}).get("maker_usd", 0.0)
        out[loop] = LoopSums(
            daily=daily,
            maker_usd=maker,
            checker_usd=round(cost[0] - maker, 10),
            spent={1: cost[-1], 7: cost[0], 30: g["cost_usd"]},
        )
    return out


def read(r: Reports, since: float, now: float, cost: bool = True) -> Sums:
    """Everything the panel and the pages show, from one view of the store's sums; the
    cost page's (``days``, ``reports``, ``daily``) only with ``cost``: a store's model
    and role groups count the runs each touched, the dearest of these sums, and the view
    keeps the cost page's for minutes (:data:`dashboard.view.COST_EVERY_S`)."""
    days, starts = dates(since, now)
    reports: dict[str, CostReport] = {}
    for by in COST_BY if cost else ():
        calls = r.call_groups(since, by, USEFUL)
        runs = r.run_groups(since, "loop", USEFUL)
        reports[by] = report_from_sums(
            by, calls, runs, r.loop_teams(since) if by == "team" else None
        )
    return Sums(
        heads=r.run_heads(since),
        spend=r.loop_spend(max(since, now - 2 * WEEK), now - WEEK),
        wrote=r.written_runs(since),
        days=days,
        reports=reports,
        daily={by: _daily(r, by, starts) for by in COST_BY if cost},
        loops=_loops(r, since, now),
    )


def of_records(
    calls: list[dict[str, Any]], runs: list[dict[str, Any]], since: float, now: float
) -> Sums:
    """:func:`read` over records already decoded (those of the window)."""
    return read(PyReports(calls, runs), since, now)
