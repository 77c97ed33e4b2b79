"""Cost next to outcome: what each loop, team, model, role or run spent, and what it got.

Spend is summed from the per-call records alone (one per model call or tool call, as the
gateway traces them): a run record's own ``cost_usd`` is a running total of the same calls,
so adding it as well would count every call twice. Outcomes come from the run records: a
run is a *useful outcome* when it ended ``done`` (its checker passed, or its command
exited 0); anything else (``max_steps``, ``budget_exceeded``, ``error``, still running) is a
run that cost money and delivered nothing yet.

This module is pure: the CLI reads the store and hands the records over as plain mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

GROUPS = ("loop", "team", "model", "role", "run")
USEFUL = "done"
DOMINANT_OVER = 4
"""A group is flagged when it spends more than the next this-many groups together (and
there are that many after it)."""


@dataclass
class Group:
    key: str
    cost_usd: float = 0.0
    maker_usd: float = 0.0
    subagent_usd: float = 0.0
    requests: int = 0
    tool_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    runs: int = 0
    useful: int = 0
    share: float = 0.0
    per_useful_usd: float | None = None
    dominant: bool = False


@dataclass(frozen=True)
class CostReport:
    by: str
    groups: list[Group]
    total_usd: float
    runs: int
    useful: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "total_usd": self.total_usd,
            "runs": self.runs,
            "useful": self.useful,
            "groups": [asdict(g) for g in self.groups],
        }


def role_of(member: str, loop: str) -> str:
    """``maker`` for the loop's own calls, ``sub-agent`` for a member ``loop/name``."""
    return "maker" if not member or member == loop else "sub-agent"


def _key(call: Mapping[str, Any], by: str, loop: str) -> str:
    if by == "loop":
        return loop
    if by == "team":
        return str(call.get("team") or "-")
    if by == "model":
        return str(call.get("virtual_model") or call.get("server") or "-")
    if by == "role":
        return role_of(str(call.get("member") or ""), loop)
    return str(call.get("run") or "-")


def cost_report(
    calls: Iterable[Mapping[str, Any]], runs: Iterable[Mapping[str, Any]], by: str
) -> CostReport:
    """Group ``calls`` (trace records) by ``by`` and put ``runs`` (run records: ``id``,
    ``loop``, ``outcome``) next to them. Linear in the records."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: one of {', '.join(GROUPS)}")
    groups: dict[str, Group] = {}
    # Which runs each group took part in, for groupings a run record does not carry.
    touched: dict[str, set[str]] = {}
    team_of: dict[str, str] = {}
    total = 0.0
    track_runs = by in ("model", "role")
    for call in calls:
        get = call.get
        loop = get("loop") or "-"
        member = get("member")
        maker = not member or member == loop
        if by == "loop":
            key = loop
        elif by == "role":
            key = "maker" if maker else "sub-agent"
        else:
            key = _key(call, by, loop)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key)
        cost = get("cost_usd") or 0.0
        g.cost_usd += cost
        total += cost
        if maker:
            g.maker_usd += cost
        else:
            g.subagent_usd += cost
        if get("kind") == "tool":
            g.tool_calls += 1
        else:
            g.requests += 1
        g.tokens_in += get("tokens_in") or 0
        g.tokens_out += get("tokens_out") or 0
        if by == "team" and loop not in team_of:
            team_of[loop] = key
        if track_runs:
            run = get("run")
            if run:
                touched.setdefault(key, set()).add(run)
    outcome: dict[str, bool] = {}
    for record in runs:
        run_id = str(record.get("id"))
        useful = record.get("outcome") == USEFUL
        outcome[run_id] = useful
        if by in ("model", "role"):
            continue
        loop = str(record.get("loop") or "-")
        key = {"loop": loop, "team": team_of.get(loop, "-"), "run": run_id}[by]
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key)
        g.runs += 1
        g.useful += useful
    for key, ids in touched.items():
        g = groups[key]
        g.runs = len(ids)
        g.useful = sum(1 for i in ids if outcome.get(i))
    return _finish(by, groups, total, len(outcome), sum(1 for u in outcome.values() if u))


def _finish(by: str, groups: dict[str, Group], total: float, runs: int, useful: int) -> CostReport:
    ordered = sorted(groups.values(), key=lambda x: (-x.cost_usd, x.key))
    for i, g in enumerate(ordered):
        g.share = g.cost_usd / total if total else 0.0
        g.per_useful_usd = g.cost_usd / g.useful if g.useful else None
        after = ordered[i + 1 : i + 1 + DOMINANT_OVER]
        g.dominant = len(after) == DOMINANT_OVER and g.cost_usd > sum(x.cost_usd for x in after)
    return CostReport(by, ordered, total, runs=runs, useful=useful)


SUMMED = ("cost_usd", "maker_usd", "subagent_usd", "requests", "tool_calls", "tokens_in", "tokens_out")  # fmt: skip


def report_from_sums(
    by: str,
    calls: Iterable[Mapping[str, Any]],
    runs: Iterable[tuple[str, int, int]],
    teams: Mapping[str, str] | None = None,
) -> CostReport:
    """:func:`cost_report` from sums a store computed: ``calls`` are per-group sums of the
    per-call records (the fields of :class:`Group`; ``runs`` and ``useful`` too when
    grouped by model or role), ``runs`` are (key, runs, useful) of the run records
    grouped by loop (by run, for ``by == "run"``), ``teams`` the team of each loop's
    first call (for ``by == "team"``). Linear in the groups."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: one of {', '.join(GROUPS)}")
    groups: dict[str, Group] = {}
    total = 0.0
    for row in calls:
        g = groups[str(row["key"])] = Group(str(row["key"]))
        for name in SUMMED:
            setattr(g, name, row.get(name) or type(getattr(g, name))())
        if by in ("model", "role"):
            g.runs = int(row.get("runs") or 0)
            g.useful = int(row.get("useful") or 0)
        total += g.cost_usd
    n_runs = n_useful = 0
    for key, count, useful in runs:
        n_runs += count
        n_useful += useful
        if by in ("model", "role"):
            continue
        if by == "team":
            key = (teams or {}).get(key, "-")
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(key)
        found.runs += count
        found.useful += useful
    return _finish(by, groups, total, n_runs, n_useful)
