"""The fleet view, computed from the store and kept: the fleet, loop and cost pages render
from it.

Building the view reads the store's sums of the window and its run heads
(:mod:`dashboard.sums`: no call trace is decoded) and renders a row per loop (at 1,000
loops still a second or so on a small machine, bench/dashboard.py), so it is not done per
page. It is built on the first request,
then rebuilt in the background when a page finds it older than ``refresh_s``, while
pages keep rendering the last one, which says when it was read. ``refresh_s`` 0 builds
it for every page (a small store, or a test that must see a run's end at once). The cost
page's sums are kept across builds for :data:`COST_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from dashboard import snapshot
from dashboard.attention import Finding, FindingSource
from dashboard.pages import cost as cost_page
from dashboard.pages import fleet as fleet_page
from gateway.store import Store

log = logging.getLogger("fleet.dashboard")
COST_EVERY_S = 300.0
"""How old the cost page's sums may get before a build makes them again. They are a third
of a build's CPU at 1,000 loops and chart whole days, so a build every ``refresh_s`` keeps
them for this long; with ``refresh_s`` 0 every build makes them."""


@dataclass(frozen=True)
class FleetView:
    at: float
    rows: list[fleet_page.LoopRow]
    counts: fleet_page.Counts
    findings: list[Finding]
    cost: cost_page.CostView

    @property
    def as_of(self) -> str:
        return dt.datetime.fromtimestamp(self.at, dt.UTC).strftime("%H:%M:%S UTC")

    def row(self, loop: str) -> fleet_page.LoopRow | None:
        return next((r for r in self.rows if r.name == loop), None)


def derive(
    loaded: Any,
    snap: snapshot.Snapshot,
    findings: FindingSource,
    render_row: Callable[[fleet_page.LoopRow], str],
    connected: bool = True,
    cost: cost_page.CostView | None = None,
) -> FleetView:
    """The view from one snapshot; ``connected`` says whether ``findings`` really checks
    (a loop is healthy only when something looked); ``cost``, a cost summary to keep
    instead of summing the snapshot again."""
    found = findings(loaded, snap)
    rows = fleet_page.rows(loaded, snap)
    fleet_page.judge(rows, found, connected)
    for row in rows:  # a page then joins the rows it shows: no per-page row rendering
        row.html = Markup(render_row(row))
    counts = fleet_page.counts(loaded, snap, rows)
    return FleetView(snap.now, rows, counts, found, cost or cost_page.summarize(snap))


class ViewCache:
    def __init__(
        self,
        loaded: Any,
        store: Callable[[], Awaitable[Store]],
        days: int,
        findings: FindingSource,
        refresh_s: float,
        render_row: Callable[[fleet_page.LoopRow], str],
        connected: bool = True,
    ):
        self.render_row = render_row
        self.connected = connected
        self.loaded = loaded
        self.store = store
        self.days = days
        self.findings = findings
        self.refresh_s = refresh_s
        self.current: FleetView | None = None
        self.cost_every_s = COST_EVERY_S
        self._building: asyncio.Task[FleetView] | None = None

    async def build(self) -> FleetView:
        now = time.time()
        last = self.current.cost if self.current is not None else None
        keep = (
            last is not None
            and self.refresh_s > 0
            and now - last.at < max(self.refresh_s, self.cost_every_s)
        )
        # the cost page's sums are read only when they are made again
        snap = await snapshot.read(await self.store(), self.days, now=now, cost=not keep)
        # The sums are CPU work: off the event loop, so the other pages keep answering.
        view = await asyncio.to_thread(
            derive, self.loaded, snap, self.findings, self.render_row, self.connected,
            last if keep else None,
        )  # fmt: skip
        self.current = view
        return view

    async def get(self) -> FleetView:
        view = self.current
        if view is None or self.refresh_s <= 0:
            return await self._once()
        if time.time() - view.at > self.refresh_s and (
            self._building is None or self._building.done()
        ):
            self._building = asyncio.ensure_future(self.build())
            self._building.add_done_callback(_report)
        return view

    async def _once(self) -> FleetView:
        """One build at a time: concurrent first requests wait for the same one."""
        if self._building is None or self._building.done():
            self._building = asyncio.ensure_future(self.build())
        return await asyncio.shield(self._building)

    async def close(self) -> None:
        if self._building is not None and not self._building.done():
            self._building.cancel()
            with contextlib.suppress(BaseException):
                await self._building


def _report(task: asyncio.Task[FleetView]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rebuilding the fleet view failed: %s", task.exception())
