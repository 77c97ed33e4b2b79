"""Dead-loop detection: the findings ``fleetctl doctor`` reports (and the operator's
``Healthy`` condition can carry), from a fleet's definitions and its gateway's records.

A loop rarely dies loudly. Its model is deprecated and it keeps running on the old one; its
schedule stops firing; it runs every morning and ends without doing anything; its checker
passes whatever it is shown; it hits its budget again and again; an approval it waits for is
forgotten; its spend doubles. Each of these is visible in what the gateway already records
(run records with outcomes, per-call traces, tool classes) next to what the fleet declares
(models with deprecation dates, schedules, grants). This module is pure: the CLI reads the
store and hands the records over as plain mappings; thresholds have defaults and can be set.

A *useful* run ended ``done`` and, for a loop granted a write or destructive tool, made at
least one successful write call: a run that only reads and reports "done" has not changed
anything it exists to change.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from fleet import cron
from fleet.spec import Agent, Fleet

ERROR, WARNING = "error", "warning"
WEEK = 7 * 86400.0
DEPRECATION_WARN_DAYS = 30


@dataclass(frozen=True)
class Thresholds:
    useless_streak: int = 5
    """Runs in a row without a useful outcome that make a loop look dead."""
    rubber_stamp_runs: int = 10
    """The last this-many runs all passed by the checker and none useful: a rubber stamp."""
    budget_exceeded: int = 3
    """Runs ended ``budget_exceeded`` in the window that count as repeated."""
    approval_wait_s: float = 24 * 3600.0
    """How long a run may wait for a person's approval before it is a finding."""
    spend_ratio: float = 2.0
    """This week's spend over last week's that counts as a jump."""
    spend_floor_usd: float = 0.01
    """Last week's spend below which a jump is noise (a loop that spent nothing)."""
    heartbeat_factor: float = 2.0
    """No run within this many times the schedule's longest gap: a missed heartbeat."""


@dataclass(frozen=True)
class Finding:
    loop: str
    owner: str
    check: str
    level: str
    evidence: str
    action: str


@dataclass
class _Seen:
    """What the records say about one loop, gathered in one pass."""

    runs: list[Mapping[str, Any]] = field(default_factory=list)
    wrote: set[str] = field(default_factory=set)
    this_week: float = 0.0
    last_week: float = 0.0


def longest_gap_s(expr: str, seed_text: str) -> float | None:
    """The longest time between two fires of a schedule (its H resolved for the loop), in
    seconds, over a week; a schedule restricted by day of month or month gets the gap of a
    month or a year. ``None`` when the expression cannot be read."""
    try:
        e = cron.expand(cron.resolve(expr, seed_text))
    except (cron.CronProblem, ValueError):
        return None
    if not e.dom_star or len(e.months) < 12:
        return (366.0 if len(e.months) < 12 else 31.0) * 86400
    days = range(7) if e.dow_star else sorted(e.dows)
    fires = sorted(d * 1440 + h * 60 + m for d in days for h in e.hours for m in e.minutes)
    if not fires:
        return None
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    gaps.append(fires[0] + 7 * 1440 - fires[-1])
    return max(gaps) * 60.0


def writes_granted(fleet: Fleet, agent: Agent) -> bool:
    """Whether the loop itself may call a write or destructive tool (classes expanded)."""
    for server_name, grant in agent.mcp_servers.items():
        server = fleet.mcp_servers.get(server_name)
        for entry in grant.tools:
            if entry in ("write", "destructive"):
                return True
            if entry == "read" or server is None:
                continue
            from fleet.rules import tool_class

            if tool_class(server, entry) in ("write", "destructive"):
                return True
    return False


def _gather(
    runs: Iterable[Mapping[str, Any]], calls: Iterable[Mapping[str, Any]], now: float
) -> dict[str, _Seen]:
    seen: dict[str, _Seen] = {}
    for record in runs:
        loop = record.get("loop")
        if loop:
            s = seen.get(loop)
            if s is None:
                s = seen[loop] = _Seen()
            s.runs.append(record)
    week_ago, two_weeks_ago = now - WEEK, now - 2 * WEEK
    for call in calls:
        get = call.get
        loop = get("loop")
        if not loop:
            continue
        s = seen.get(loop)
        if s is None:
            s = seen[loop] = _Seen()
        ts = get("ts") or 0.0
        cost = get("cost_usd") or 0.0
        if ts >= week_ago:
            s.this_week += cost
        elif ts >= two_weeks_ago:
            s.last_week += cost
        if (
            get("kind") == "tool"
            and get("tool_class") in ("write", "destructive")
            and get("outcome") in ("ok", "replayed")
            and not get("error")
        ):
            s.wrote.add(get("run") or "")
    return seen


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _hours(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 2 * 86400 else f"{seconds / 3600:.1f} h"


def diagnose(
    fleet: Fleet,
    agents: Iterable[Agent],
    runs: Iterable[Mapping[str, Any]],
    calls: Iterable[Mapping[str, Any]],
    *,
    now: float,
    since: float | None = None,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """Every finding for every loop, errors first, then by loop. Linear in the records.

    ``since`` is where the records read begin (at the latest, the oldest run in them): a
    loop with no run in them is a missed heartbeat only when they reach back further than
    its limit (a monthly loop is not called silent from two weeks of records, nor a daily
    one from the first hour of a new store)."""
    return _diagnose(fleet, agents, _gather(runs, calls, now), now, since, thresholds)


def diagnose_sums(
    fleet: Fleet,
    agents: Iterable[Agent],
    runs: Iterable[Mapping[str, Any]],
    spend: Mapping[str, tuple[float, float]],
    wrote: set[str],
    *,
    now: float,
    since: float | None = None,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """:func:`diagnose` from what a store summed of the calls: ``spend`` is each loop's
    spend in the 7 days before the last 7 and in the last 7 (from ``since`` at the
    earliest), ``wrote`` the runs with a successful write or destructive tool call."""
    seen: dict[str, _Seen] = {}
    for record in runs:
        loop = record.get("loop")
        if loop:
            s = seen.get(loop)
            if s is None:
                s = seen[loop] = _Seen()
            s.runs.append(record)
    for loop, (last_week, this_week) in spend.items():
        s = seen.get(loop)
        if s is None:
            s = seen[loop] = _Seen()
        s.last_week, s.this_week = last_week, this_week
    for s in seen.values():
        s.wrote = wrote  # run ids are fleet-wide: one set serves every loop
    return _diagnose(fleet, agents, seen, now, since, thresholds)


def _diagnose(
    fleet: Fleet,
    agents: Iterable[Agent],
    seen: dict[str, _Seen],
    now: float,
    since: float | None,
    thresholds: Thresholds | None,
) -> list[Finding]:
    t = thresholds or Thresholds()
    agents = list(agents)
    # The records reach back only as far as the oldest run in them: a store begun an hour ago
    # says nothing of a daily loop, and one with no runs at all says nothing of any loop.
    oldest = min((r.get("started") or now for s in seen.values() for r in s.runs), default=now)
    since = oldest if since is None else max(since, oldest)
    candidates = {a.promotes_to: a.name for a in agents if a.promotes_to}
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    out: list[Finding] = []
    for agent in agents:
        s = seen.get(agent.name) or _Seen()
        s.runs.sort(key=lambda r: r.get("started") or 0.0)
        found = _deprecated(fleet, agent, today, candidates)
        found += _heartbeat(fleet, agent, s, now, since, t)
        found += _usefulness(fleet, agent, s, t, candidates)
        found += _budget_and_waits(agent, s, now, t)
        found += _spend(agent, s, t)
        out += [Finding(agent.name, agent.owner, *f) for f in found]
    return sorted(out, key=lambda f: (f.level != ERROR, f.loop, f.check))


Raw = tuple[str, str, str, str]
"""(check, level, evidence, action) before the loop and owner are added."""


def _deprecated(fleet: Fleet, agent: Agent, today: dt.date, cands: dict[str, str]) -> list[Raw]:
    out: list[Raw] = []
    members = [("the loop", agent.model)] + [
        (f"sub-agent '{s.name}'", s.model) for s in agent.subagents if s.model
    ]
    for who, name in members:
        model = fleet.models.get(name or "")
        if model is None or model.deprecated is None:
            continue
        after, use = model.deprecated.after, model.deprecated.use
        left = (after - today).days
        if left > DEPRECATION_WARN_DAYS:
            continue
        when = (
            f"was deprecated after {after}"
            if left < 0
            else f"is deprecated after {after} ({left} days left)"
        )
        fix = f"pin model: {use}" if use else "pin a model that is not deprecated"
        if agent.name in cands:
            fix += f", or promote '{cands[agent.name]}' if it runs on it"
        out.append(
            (
                "deprecated-model",
                ERROR if left < 0 else WARNING,
                f"{who} uses model '{name}', which {when}"
                + (f"; its replacement is '{use}'" if use else ""),
                fix,
            )
        )
    return out


def _heartbeat(
    fleet: Fleet, agent: Agent, s: _Seen, now: float, since: float | None, t: Thresholds
) -> list[Raw]:
    trigger = agent.trigger
    if trigger.suspend or trigger.schedule is None:
        return []
    gap = longest_gap_s(trigger.schedule, cron.seed(fleet.fleet, agent.name))
    if gap is None:
        return []
    limit = t.heartbeat_factor * gap
    last = max((r.get("started") or 0.0 for r in s.runs), default=None)
    if last is not None and now - last <= limit:
        return []
    if last is None and since is not None and now - since < limit:
        return []
    evidence = (
        f"no run since {_when(last)} ({_hours(now - last)} ago)"
        if last is not None
        else "no run in the records read"
    )
    return [
        (
            "missed-heartbeat",
            ERROR,
            f"{evidence}; schedule '{trigger.schedule}' fires at least every {_hours(gap)}",
            "check its CronJob and the loop's last Job; retire the loop if it is no longer needed",
        )
    ]


def _useful(record: Mapping[str, Any], writes: bool, wrote: set[str]) -> bool:
    return record.get("outcome") == "done" and (not writes or record.get("id") in wrote)


def _usefulness(
    fleet: Fleet, agent: Agent, s: _Seen, t: Thresholds, cands: dict[str, str]
) -> list[Raw]:
    ended = [r for r in s.runs if r.get("status") == "ended"]
    if not ended:
        return []
    writes = writes_granted(fleet, agent)
    out: list[Raw] = []
    streak = 0
    for record in reversed(ended):
        if _useful(record, writes, s.wrote):
            break
        streak += 1
    promote = f"promote '{cands[agent.name]}' if it does better, or " if agent.name in cands else ""
    if streak >= t.useless_streak:
        outcomes: dict[str, int] = {}
        for record in ended[-streak:]:
            key = str(record.get("outcome"))
            outcomes[key] = outcomes.get(key, 0) + 1
        shown = ", ".join(f"{k} x{n}" for k, n in sorted(outcomes.items(), key=lambda x: -x[1]))
        out.append(
            (
                "no-useful-outcome",
                ERROR,
                f"the last {streak} runs had no useful outcome ({shown}"
                + ("; done without a successful write" if "done" in outcomes and writes else "")
                + f"), since {_when(ended[-streak].get('started') or 0.0)}",
                f"{promote}pin the last version that worked (fleetctl diff shows what changed), "
                "or retire the loop",
            )
        )
    last = ended[-t.rubber_stamp_runs :]
    has_checker = any(sub.role == "checker" for sub in agent.subagents)
    if (
        has_checker
        and len(last) == t.rubber_stamp_runs
        and all(r.get("outcome") == "done" and (r.get("checker_rounds") or 0) >= 1 for r in last)
        and not any(_useful(r, writes, s.wrote) for r in last)
    ):
        out.append(
            (
                "rubber-stamp-checker",
                ERROR,
                f"the checker passed each of the last {len(last)} runs, and none of them made a "
                "successful write",
                f"{promote}pin a stricter checker (its instructions or model), and look at what "
                "the maker claims",
            )
        )
    return out


def _budget_and_waits(agent: Agent, s: _Seen, now: float, t: Thresholds) -> list[Raw]:
    out: list[Raw] = []
    over = [r for r in s.runs if r.get("outcome") == "budget_exceeded"]
    if len(over) >= t.budget_exceeded:
        out.append(
            (
                "repeated-budget-exceeded",
                WARNING,
                f"{len(over)} runs ended budget_exceeded, the last at "
                f"{_when(over[-1].get('started') or 0.0)}",
                "pin a cheaper model or tighter harness limits, or raise the budget in review",
            )
        )
    for r in s.runs:
        if r.get("status") != "awaiting_approval":
            continue
        since = r.get("updated") or r.get("started") or now
        if now - since > t.approval_wait_s:
            out.append(
                (
                    "approval-waiting",
                    WARNING,
                    f"run '{r.get('id')}' has waited {_hours(now - since)} for an approval",
                    "approve or deny it (fleetctl approvals), or retire the loop",
                )
            )
    return out


def _spend(agent: Agent, s: _Seen, t: Thresholds) -> list[Raw]:
    if (
        s.last_week <= 0
        or s.last_week < t.spend_floor_usd
        or s.this_week < t.spend_ratio * s.last_week
    ):
        return []
    return [
        (
            "spend-jump",
            WARNING,
            f"spent {s.this_week:.4f} USD in the last 7 days against {s.last_week:.4f} USD the "
            f"7 before ({s.this_week / s.last_week:.1f}x)",
            "look at fleetctl cost --by run; pin the previous version if a change caused it",
        )
    ]


def as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]
