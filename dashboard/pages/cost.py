"""The cost page: the fleet's spend by team, by model and by role (maker or sub-agent), day
by day over the fleet view's window, as server-drawn stacked bars, each with the table
``fleetctl cost --by team|model|role`` prints for the same records.

The sums are the store's, read with the view's snapshot (:mod:`dashboard.sums`: the
tables are ``fleetctl cost``'s own report from the same sums, so the page and the CLI never
disagree, and each day's bars are the sums from that day on less the next day's), not made per page, and kept across the view's builds for a few minutes
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
from dashboard.sums import of_records
from dashboard.svg import PALETTE, stacked_bars
from fleet.economics import CostReport, Group

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


def summarize(snap: Snapshot) -> CostView:
    """Per day and per group of each dimension: the store's sums read with the snapshot
    (:mod:`dashboard.sums`), or those of its records when it was read without them."""
    sums = snap.sums or of_records(snap.calls, snap.runs, snap.since, snap.now)
    days, n = sums.days, len(sums.days)
    out = []
    for by, title in DIMENSIONS:
        report = sums.reports[by]
        series = _series(sums.daily[by], report.groups, n)
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
