"""The fleet page: a counts strip, the needs-attention panel and a row per loop (health,
owner and team, stage, pins: model with its deprecation, instructions and skills, and for a
staging loop what promoting it would change; servers and tools by class, last outcome,
useful-outcome rate, seven days of cost split maker/checker with a sparkline, budget used).

A loop's health is read off the needs-attention findings: an error finding makes it
*degraded*, warnings alone *warning*, none *healthy*; with no checks connected it is
*unknown*, never healthy by default.

Rows filter by ``team``, ``stage`` and ``health`` and sort by ``sort=cost|name|budget``
(query parameters, so a filtered view is a link). The cost columns are the store's sums
(:mod:`dashboard.sums`), the rest one pass over the window's run heads: linear in what the
store returned, whatever the number of loops.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from markupsafe import Markup

from dashboard.attention import Finding
from dashboard.snapshot import DAY_S, Snapshot
from dashboard.sums import LOOP_DAYS, LoopSums, of_records
from dashboard.svg import meter, sparkline
from fleet.rules.base import TOOL_CLASSES, WINDOW_DAYS, is_destructive, tool_class
from fleet.spec import split_ref

SORTS = ("name", "cost", "budget")
HEALTH = ("healthy", "warning", "degraded")
PARAMS = ("team", "stage", "health", "sort")
DAYS = LOOP_DAYS
ATTENTION = 25
"""Findings the panel lists (errors first); the rest are counted, and the health filter
and each loop's page show them: a sick fleet's panel must not push the table away."""


class QueryError(Exception):
    """A query parameter the page cannot use; the message says which and what to use."""


@dataclass
class LoopRow:
    name: str
    owner: str
    team: str
    stage: str
    model: str
    deprecated: str
    pins: list[str]
    """The loop's own pinned instructions and skills, ``name@version``."""
    promotes: list[str]
    """For a staging loop: what promoting it would change in its production loop."""
    touches: dict[str, dict[str, list[str]]]
    """server → tool class → tools or patterns granted."""
    last_outcome: str
    last_run: str
    runs: int
    useful: int
    maker_usd: float
    checker_usd: float
    daily: list[float]
    budget_limit: float | None
    budget_window: str
    budget_spent: float
    health: str = "unknown"
    """healthy, warning or degraded from the findings; unknown with no checks connected."""
    spark: Markup = field(default=Markup(""))
    meter: Markup = field(default=Markup(""))
    html: Markup = field(default=Markup(""))
    """The row as the table shows it (``fleet_row.html``), rendered with the view."""

    @property
    def cost_usd(self) -> float:
        return self.maker_usd + self.checker_usd

    @property
    def budget_used(self) -> float | None:
        return None if not self.budget_limit else self.budget_spent / self.budget_limit

    @property
    def useful_rate(self) -> str:
        return "-" if not self.runs else f"{self.useful / self.runs * 100:.0f}%"


def _budget(fleet: Any, agent: Any) -> tuple[float | None, str]:
    if agent.budget is not None:
        return float(agent.budget.limit_usd), str(agent.budget.window)
    for b in fleet.gateway.budgets:
        if b.applies_per == "agent":
            return float(b.limit_usd), str(b.window)
    return None, "day"


def touches(fleet: Any, agent: Any) -> dict[str, dict[str, list[str]]]:
    """What a loop and its sub-agents are granted, per server and tool class."""
    out: dict[str, dict[str, list[str]]] = {}
    members = [agent, *agent.subagents]
    for member in members:
        for server_name, grant in sorted(member.mcp_servers.items()):
            server = fleet.mcp_servers.get(server_name)
            classes = out.setdefault(server_name, {})
            for entry in grant.tools:
                if entry in TOOL_CLASSES:
                    tools = list(getattr(server.tools, entry)) if server else [entry]
                    cls = entry
                else:
                    tools = [entry]
                    cls = (
                        "destructive"
                        if is_destructive(fleet, server, entry)
                        else (tool_class(server, entry) if server else None) or "write"
                    )
                bucket = classes.setdefault(cls, [])
                bucket.extend(t for t in tools if t not in bucket)
    return {s: {c: v for c in TOOL_CLASSES if (v := classes.get(c))} for s, classes in out.items()}


def _deprecation(fleet: Any, model: str, today: dt.date) -> str:
    vm = fleet.models.get(model)
    dep = getattr(vm, "deprecated", None)
    if dep is None:
        return ""
    when = "since" if dep.after <= today else "after"
    return f"deprecated {when} {dep.after.isoformat()}" + (f", use {dep.use}" if dep.use else "")


def pins(agent: Any) -> list[str]:
    return [str(agent.instructions), *(str(s) for s in agent.skills)]


def promotion(agent: Any, target: Any | None) -> list[str]:
    """What ``fleetctl promote`` would move into ``target``: each pin that differs, as
    ``what old → new``; an empty list when the candidate pins what production pins."""
    if target is None:
        return [f"its production loop '{agent.promotes_to}' is not in the fleet"]
    out = []
    if agent.model != target.model:
        out.append(f"model {target.model} → {agent.model}")
    if agent.instructions != target.instructions:
        (was, old), (now, new) = split_ref(target.instructions), split_ref(agent.instructions)
        out.append(
            f"instructions @{old} → @{new}"
            if was == now
            else f"instructions {target.instructions} → {agent.instructions}"
        )
    theirs = dict(split_ref(str(s)) for s in target.skills)
    ours = dict(split_ref(str(s)) for s in agent.skills)
    for name in sorted(set(theirs) | set(ours)):
        old, new = theirs.get(name, "-"), ours.get(name, "-")
        if name not in theirs:
            out.append(f"skill {name} added @{new}")
        elif name not in ours:
            out.append(f"skill {name} dropped (@{old})")
        elif old != new:
            out.append(f"skill {name} @{old} → @{new}")
    return out


def rows(loaded: Any, snap: Snapshot) -> list[LoopRow]:
    fleet = loaded.fleet
    now = snap.now
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    # the store's sums of the window's calls (dashboard.sums), never the calls themselves
    summed = (snap.sums or of_records(snap.calls, snap.runs, snap.since, now)).loops
    none = LoopSums([0.0] * DAYS, 0.0, 0.0, {})
    last: dict[str, dict[str, Any]] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    week = now - DAYS * DAY_S
    for record in snap.runs:  # newest first
        loop = str(record["loop"])
        if record.get("status") != "ended":
            continue
        last.setdefault(loop, record)
        if float(record.get("started") or 0) >= week:
            counts[loop][0] += 1
            counts[loop][1] += record.get("outcome") == "done"
    out = []
    by_name = {a.agent.name: a.agent for a in loaded.agents}
    for agent in sorted(by_name.values(), key=lambda a: a.name):
        limit, window = _budget(fleet, agent)
        ended = last.get(agent.name)
        spent = summed.get(agent.name, none)
        row = LoopRow(
            name=agent.name,
            owner=agent.owner,
            team=fleet.team_of(agent.owner),
            stage=f"{agent.stage} → {agent.promotes_to}" if agent.promotes_to else agent.stage,
            model=agent.model,
            deprecated=_deprecation(fleet, agent.model, today),
            pins=pins(agent),
            promotes=(
                promotion(agent, by_name.get(agent.promotes_to)) if agent.promotes_to else []
            ),
            touches=touches(fleet, agent),
            last_outcome=str(ended.get("outcome") or "-") if ended else "-",
            last_run=str(ended["id"]) if ended else "",
            runs=counts[agent.name][0],
            useful=counts[agent.name][1],
            maker_usd=spent.maker_usd,
            checker_usd=spent.checker_usd,
            daily=list(spent.daily),
            budget_limit=limit,
            budget_window=window,
            budget_spent=spent.spent.get(WINDOW_DAYS.get(window, 1), 0.0),
        )
        row.spark = sparkline(
            row.daily,
            f"{agent.name}: cost per day over {DAYS} days, "
            + ", ".join(f"${v:.2f}" for v in row.daily),
        )
        used = row.budget_used
        row.meter = meter(
            used,
            "no budget" if used is None else f"{used * 100:.0f}% of ${limit:g} per {window} used",
        )
        out.append(row)
    return out


def judge(all_rows: list[LoopRow], findings: list[Finding], connected: bool) -> None:
    """Set each row's health from the findings (worst wins); unknown when nothing checks."""
    if not connected:
        for r in all_rows:
            r.health = "unknown"
        return
    worst: dict[str, str] = {}
    for f in findings:
        if f.severity == "error":
            worst[f.loop] = "degraded"
        elif f.severity == "warning" and worst.get(f.loop) != "degraded":
            worst[f.loop] = "warning"
    for r in all_rows:
        r.health = worst.get(r.name, "healthy")


@dataclass
class Counts:
    loops: int
    running: int
    awaiting: int
    spend_today: float
    budget_today: float | None
    healthy: int | None = None
    """Loops without findings, warning (warnings only) and degraded (an error finding);
    None when no checks are connected."""
    warning: int | None = None
    degraded: int | None = None


def counts(loaded: Any, snap: Snapshot, all_rows: list[LoopRow]) -> Counts:
    active: dict[str, str] = {}
    for record in snap.runs:
        if record.get("status") in ("running", "awaiting_approval"):
            active[str(record["id"])] = str(record["status"])
    daily = [r.budget_limit for r in all_rows if r.budget_limit and r.budget_window == "day"]
    today = sum(r.daily[-1] for r in all_rows)
    health: dict[str, int] = defaultdict(int)
    for r in all_rows:
        health[r.health] += 1
    known = health["unknown"] < len(all_rows) or not all_rows
    return Counts(
        loops=len(all_rows),
        running=sum(1 for s in active.values() if s == "running"),
        awaiting=max(
            sum(1 for s in active.values() if s == "awaiting_approval"), len(snap.approvals)
        ),
        spend_today=today,
        budget_today=sum(daily) if daily else None,
        healthy=health["healthy"] if known else None,
        warning=health["warning"] if known else None,
        degraded=health["degraded"] if known else None,
    )


def select(all_rows: list[LoopRow], params: dict[str, str]) -> tuple[list[LoopRow], dict[str, str]]:
    """The rows the query asks for, and the query as understood."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise QueryError(
            f"unknown query parameter '{unknown[0][:40]}': use team, stage, health or sort"
        )
    team = params.get("team", "")
    stage = params.get("stage", "")
    health = params.get("health", "")
    sort = params.get("sort", "name")
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}, not '{sort[:40]}'")
    if health and health not in HEALTH:
        raise QueryError(f"health must be one of {', '.join(HEALTH)}, not '{health[:40]}'")
    shown = [
        r
        for r in all_rows
        if (not team or r.team == team)
        and (not stage or r.stage.split(" ")[0] == stage)
        and (not health or r.health == health)
    ]
    if sort == "cost":
        shown.sort(key=lambda r: (-r.cost_usd, r.name))
    elif sort == "budget":
        shown.sort(key=lambda r: (-(r.budget_used or 0.0), r.name))
    return shown, {"team": team, "stage": stage, "health": health, "sort": sort}


def context(
    loaded: Any,
    all_rows: list[LoopRow],
    base: Counts,
    pending: int,
    params: dict[str, str],
    findings: list[Finding],
    connected: bool,
    as_of: str,
) -> dict[str, Any]:
    """The page from a computed view (rows, counts) and the requests pending right now."""
    shown, query = select(all_rows, params)
    return {
        "title": f"Fleet {loaded.fleet.fleet}",
        "counts": replace(base, awaiting=max(base.awaiting, pending)),
        "rows": shown,
        "query": query,
        "teams": sorted({r.team for r in all_rows}),
        "stages": sorted({r.stage.split(" ")[0] for r in all_rows}),
        "healths": HEALTH if connected else (),
        "findings": findings[:ATTENTION],
        "findings_more": len(findings) - min(len(findings), ATTENTION),
        "findings_loops": len({f.loop for f in findings}),
        "findings_connected": connected,
        "days": DAYS,
        "as_of": as_of,
    }
