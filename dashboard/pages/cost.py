"""The cost page: the fleet's spend by team, by model and by role (maker or sub-agent), day
by day over the fleet view's window, as server-drawn stacked bars, each with the table
``fleetctl cost --by team|model|role`` prints for the same records.

The sums are made with the view (:func:`summarize`, one pass over the window's call traces
for the days, and :func:`fleet.economics.cost_report` for the totals, so the page and the
CLI never disagree), not per page, and kept across the view's builds for a few minutes
(:data:`dashboard.view.COST_EVERY_S`): a page only picks the summary out of the view. A
chart shows the groups that spent most and sums the rest as "other", so a fleet of many
teams or models still draws a readable chart; the table below it lists every group.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from dashboard.snapshot import DAY_S, Snapshot
from dashboard.svg import PALETTE, stacked_bars
from fleet.economics import CostReport, Group, cost_report, role_of

DIMENSIONS = (("team", "Team"), ("model", "Model"), ("role", "Role"))
SHOWN = 6
"""Groups a chart draws apart; the rest are one "other" series."""
OTHER = "other"
TABLE_ROWS = 200


class QueryError(Exception):
    """A query parameter the cost page cannot use."""


@dataclass(frozen=True)
class Series:
    key: str
    colour: str
    daily: list[float]

    @property
    def total(self) -> float:
        return sum(self.daily)


@dataclass(frozen=True)
class Breakdown:
    by: str
    title: str
    series: list[Series]
    report: CostReport
    chart: Markup


@dataclass(frozen=True)
class CostView:
    at: float
    """When the records summed were read."""
    window_days: int
    """How far back the records read reach."""
    days: list[str]
    """The UTC dates the window touches, oldest first (the first one partly)."""
    total_usd: float
    breakdowns: list[Breakdown]


def _key(call: dict[str, Any], by: str) -> str:
    """The group a call counts in, as :func:`fleet.economics.cost_report` names it."""
    if by == "team":
        return str(call.get("team") or "-")
    if by == "model":
        return str(call.get("virtual_model") or call.get("server") or "-")
    loop = str(call.get("loop") or "-")
    return role_of(str(call.get("member") or ""), loop)


def summarize(snap: Snapshot) -> CostView:
    """Per day and per group of each dimension, from the snapshot's calls and runs."""
    today = dt.datetime.fromtimestamp(snap.now, dt.UTC).date()
    # every date the window touches, its partial first one too: the bars then sum to the
    # tables, which count every call read
    first = dt.datetime.fromtimestamp(min(snap.since, snap.now), dt.UTC).date()
    n = (today - first).days + 1
    days = [(today - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC).timestamp()
    per: dict[str, dict[str, list[float]]] = {by: {} for by, _ in DIMENSIONS}
    team, model, role = per["team"], per["model"], per["role"]
    for call in snap.calls:
        cost = call.get("cost_usd") or 0.0
        if not cost:
            continue
        age = int((midnight + DAY_S - float(call.get("ts") or 0)) // DAY_S)
        if not 0 <= age < n:
            continue
        i = n - 1 - age
        for bucket, key in (
            (team, _key(call, "team")),
            (model, _key(call, "model")),
            (role, _key(call, "role")),
        ):
            row = bucket.get(key)
            if row is None:
                row = bucket[key] = [0.0] * n
            row[i] += cost
    out = []
    for by, title in DIMENSIONS:
        report = cost_report(snap.calls, snap.runs, by)
        series = _series(per[by], report.groups, n)
        label = f"Cost per day by {by}, {days[0]} to {days[-1]}: " + "; ".join(
            f"{s.key} ${s.total:.2f}" for s in series
        )
        out.append(Breakdown(by, title, series, report, stacked_bars(days, series, label)))
    window = round((snap.now - snap.since) / DAY_S)
    return CostView(snap.now, window, days, out[0].report.total_usd, out)


def _series(daily: dict[str, list[float]], groups: list[Group], n: int) -> list[Series]:
    """The top groups by cost (the report's order), each its own colour, then "other"."""
    ranked = [g.key for g in groups if g.key in daily]
    out = [Series(k, PALETTE[i], daily[k]) for i, k in enumerate(ranked[:SHOWN])]
    rest = ranked[SHOWN:]
    if rest:
        summed = [sum(daily[k][i] for k in rest) for i in range(n)]
        out.append(Series(f"{OTHER} ({len(rest)})", PALETTE[SHOWN], summed))
    return out


def context(view: CostView, params: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(params)
    if unknown:
        raise QueryError(f"unknown query parameter '{unknown[0][:40]}': the cost page takes none")
    return {
        "title": "Cost",
        "cost": view,
        "table_rows": TABLE_ROWS,
        "as_of": dt.datetime.fromtimestamp(view.at, dt.UTC).strftime("%H:%M:%S UTC"),
    }
