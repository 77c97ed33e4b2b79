"""``POST /v1/fleet/health``: ``fleetctl doctor``'s findings per loop, for the operator.

The operator shows each AgentLoop's health as its ``Healthy`` condition. The findings come
from the gateway's records (runs, per-call traces), which only the gateway reads, and from
the fleet's definitions (model deprecations, schedules, grants, checkers), which only the
operator holds in a cluster: the gateway config carries neither dates nor schedules. So the
operator sends the definitions it reconciles (the FleetPolicy's spec and each AgentLoop's,
as the CRs hold them) and the gateway answers with the findings, computed by
:func:`fleet.doctor.diagnose_sums` from the store's sums exactly as ``fleetctl doctor``
computes them (the window's run heads, each loop's spend per week, the runs that wrote:
never every call trace of the window, which at a thousand loops is seconds of CPU a
minute in the process that serves model calls). One request per fleet and period,
whatever the number of loops; nothing is written. A SQLite store is read in a worker
thread over a read-only connection of its own (:class:`ReadOnlySqlite`), and the checks
run there too: the event loop that serves model calls never waits for them.

Only the operator's token is taken (401 for no or an unknown token, 403 for a loop's or an
approver's); a body that is not the expected JSON is a 400 naming the field. A loop whose
spec cannot be read is answered with its problem instead of findings, the others as usual.

The conversion from CR specs back to :mod:`fleet.spec` models (:func:`fleet_of`,
:func:`agent_of`) keeps what the checks read; the dashboard's cluster entry point reads a
fleet the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import ValidationError

from fleet.doctor import ERROR, WEEK, Finding, Thresholds, diagnose_sums
from fleet.resources import AgentLoopSpec, FleetPolicySpec
from fleet.spec import Agent, Fleet, GatewayPolicy, Grant, SubAgent, Trigger
from gateway.asgi import Receive, Scope, Send, read_bounded, send_json
from gateway.errors import BadRequestError, ForbiddenError, TooLargeError
from gateway.runs import api as runs
from gateway.runs.validate import MethodError
from gateway.store import Store
from gateway.store.errors import StoreUnavailable
from gateway.store.report import Reports
from gateway.store.sqlite import SqliteStore

PATH = "/v1/fleet/health"
MAX_BODY = 16 * 1024 * 1024
"""A fleet's definitions: about 3 KB a loop, so thousands of loops fit."""
DEFAULT_DAYS = 14
"""Records read: the spend check compares two weeks (as ``fleetctl doctor --days``)."""
PROMOTES_TO = "fleetctl.dev/promotes-to"
REASONS = {
    "deprecated-model": "DeprecatedModel",
    "missed-heartbeat": "MissedHeartbeat",
    "no-useful-outcome": "NoUsefulOutcome",
    "rubber-stamp-checker": "RubberStampChecker",
    "repeated-budget-exceeded": "RepeatedBudgetExceeded",
    "approval-waiting": "ApprovalWaiting",
    "spend-jump": "SpendJump",
}
"""A finding's check as a condition reason (CamelCase, as Kubernetes reasons are)."""


def reason_of(check: str) -> str:
    return REASONS.get(check) or "".join(p.capitalize() for p in check.split("-"))


def _where(exc: ValidationError, prefix: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = exc.error_count() - 1
    return f"{prefix}{'.' + where if where else ''}: {first['msg']}" + (
        f" (and {more} more)" if more > 0 else ""
    )


def fleet_of(policy_spec: Mapping[str, Any]) -> Fleet:
    """The :class:`Fleet` a FleetPolicy's spec describes (what the checks and the dashboard
    read: models and their deprecations, MCP servers' tool classes, teams, budgets).
    Raises :class:`ValueError` naming the field that is wrong."""
    try:
        spec = FleetPolicySpec.model_validate(policy_spec, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValueError(_where(exc, "policy")) from None
    gw = spec.gateway
    return Fleet(
        fleet=spec.fleet,
        timezone=spec.timezone,
        providers=spec.providers,
        models=spec.models,
        pricing=spec.pricing,
        harness_limits=spec.harness_limits,
        sandbox=spec.sandbox,
        mcp_servers=spec.mcp_servers,
        teams=spec.teams,
        gateway=GatewayPolicy(
            retries=gw.retries,
            caching=gw.caching,
            budgets=gw.budgets,
            rate_limits=gw.rate_limits,
            destructive_tools=gw.destructive_tools,
            alerts=gw.alerts,
            approval_ttl=gw.approval_ttl,
        ),
    )


def agent_of(name: str, spec: Mapping[str, Any], promotes_to: str | None = None) -> Agent:
    """The :class:`Agent` an AgentLoop's spec describes (its pins become their refs).
    Raises :class:`ValueError` naming the field that is wrong."""
    try:
        s = AgentLoopSpec.model_validate(spec, by_alias=True, by_name=False)
        trigger = s.trigger
        return Agent(
            name=name,
            owner=s.owner,
            stage=s.stage,
            promotes_to=promotes_to or None,
            description=s.description,
            owns=s.owns,
            model=s.model,
            instructions=s.instructions.ref,
            skills=[p.ref for p in s.skills],
            mcp_servers={k: Grant(tools=g.tools) for k, g in s.mcp_servers.items()},
            subagents=[
                SubAgent(
                    name=sub.name,
                    role=sub.role,
                    model=sub.model,
                    instructions=sub.instructions.ref if sub.instructions else None,
                    skills=[p.ref for p in sub.skills],
                    mcp_servers={k: Grant(tools=g.tools) for k, g in sub.mcp_servers.items()},
                )
                for sub in s.subagents
            ],
            budget=s.budget.model_dump() if s.budget else None,
            rate_limits=s.rate_limits,
            approvals=s.approvals,
            trigger=Trigger(
                schedule=trigger.schedule,
                timezone=trigger.timezone,
                suspend=trigger.suspend,
                concurrency=trigger.concurrency,
                webhook=trigger.webhook is not None,
            ),
        )
    except ValidationError as exc:
        raise ValueError(_where(exc, f"loops.{name}.spec")) from None


def _bad(code: str, message: str, param: str | None = None) -> BadRequestError:
    return BadRequestError(code, message, extra={"param": param} if param else None)


def _request(data: Any) -> tuple[Fleet, list[Agent], dict[str, str], int]:
    """(fleet, agents, loop → why its spec was not read, days) of a request body."""
    if not isinstance(data, dict):
        raise BadRequestError("invalid_body", "the body must be a JSON object")
    unknown = sorted(set(data) - {"policy", "loops", "days"})
    if unknown:
        raise _bad("invalid_body", f"unknown field '{unknown[0][:40]}'", unknown[0][:40])
    policy, loops, days = data.get("policy"), data.get("loops"), data.get("days", DEFAULT_DAYS)
    if not isinstance(policy, dict):
        raise _bad("invalid_body", "policy must be the FleetPolicy's spec", "policy")
    if not isinstance(loops, dict):
        raise _bad("invalid_body", "loops must map each loop's name to {spec, promotesTo}", "loops")
    if isinstance(days, bool) or not isinstance(days, int) or not 2 <= days <= 400:
        raise _bad("invalid_body", "days must be a whole number from 2 to 400", "days")
    try:
        fleet = fleet_of(policy)
    except ValueError as exc:
        raise _bad("invalid_policy", str(exc), "policy") from None
    agents, problems = [], {}
    for name, loop in sorted(loops.items()):
        if not isinstance(loop, dict) or not isinstance(loop.get("spec"), dict):
            problems[name] = f"loops.{name}: give {{spec, promotesTo}}"
            continue
        promotes = loop.get("promotesTo")
        try:
            agents.append(
                agent_of(name, loop["spec"], promotes if isinstance(promotes, str) else None)
            )
        except ValueError as exc:
            problems[name] = str(exc)
    return fleet, agents, problems, days


def verdicts(
    agents: list[Agent], findings: list[Finding], problems: Mapping[str, str], days: int
) -> dict[str, dict[str, Any]]:
    """Each loop's answer: healthy or not, the worst finding's reason, a message, all findings."""
    by_loop: dict[str, list[Finding]] = {}
    for f in findings:  # errors first already: the first of a loop is its worst
        by_loop.setdefault(f.loop, []).append(f)
    out: dict[str, dict[str, Any]] = {}
    for agent in agents:
        found = by_loop.get(agent.name, [])
        if not found:
            out[agent.name] = {
                "healthy": True,
                "reason": "NoFindings",
                "message": f"no finding in the last {days} days of records",
                "findings": [],
            }
            continue
        worst = found[0]
        message = f"{worst.level}: {worst.check}: {worst.evidence} (-> {worst.action})"
        if len(found) > 1:
            message += "; also " + ", ".join(f.check for f in found[1:])
        out[agent.name] = {
            "healthy": False,
            "reason": reason_of(worst.check),
            "message": message,
            "findings": [
                {
                    "check": f.check,
                    "level": f.level,
                    "evidence": f.evidence,
                    "action": f.action,
                }
                for f in found
            ],
        }
    for name, why in problems.items():
        out[name] = {"healthy": None, "reason": "InvalidSpec", "message": why, "findings": []}
    return out


class ReadOnlySqlite(SqliteStore):
    """The SQLite store's readers over a read-only connection: nothing is created, recovered,
    folded or checkpointed, and the journal stays the gateway's. A write fails (the
    connection is ``mode=ro``); the health check and the dashboard's pages make none. The
    parent's readers run unchanged, so both read the rows its writers wrote, journal
    included."""

    def __init__(self, path: str):  # the parent's creates the schema and takes the journal
        self.path = path
        self.full = False
        self.db = sqlite3.connect(
            f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA busy_timeout=5000")
        self._rows = self.db
        self.journal_dir = Path(path + ".journal")
        self.journal = None
        self.folder = None
        self._hits = {}
        self._steps = {}
        self._pending = []
        self._syncing = None

    async def checkpoints(self, interval: float = 5.0) -> None:
        return None

    async def close(self) -> None:
        self.db.close()


Sums = tuple[list[dict[str, Any]], dict[str, tuple[float, float]], set[str]]
"""(the window's run heads, each loop's spend last week and this week, the runs that wrote)."""


def _sums_of(r: Reports, start: float, now: float) -> Sums:
    """What the checks read of the store, as ``fleetctl doctor`` reads it."""
    spend = r.loop_spend(max(start, now - 2 * WEEK), now - WEEK)
    return r.run_heads(start), spend, r.written_runs(start)


async def read_sums(store: Store, start: float, now: float) -> Sums:
    """The store's sums of the records since ``start``."""
    return await store.read_report(start, lambda r: _sums_of(r, start, now))


def check(fleet: Fleet, agents: list[Agent], sums: Sums, now: float, start: float) -> list[Finding]:
    heads, spend, wrote = sums
    return diagnose_sums(
        fleet, agents, heads, spend, wrote, now=now, since=start, thresholds=Thresholds()
    )


def _check_off_loop(
    path: str, fleet: Fleet, agents: list[Agent], now: float, start: float
) -> list[Finding]:
    """The findings of a SQLite store, read and checked in this worker thread over a
    read-only connection of its own, so the gateway's event loop never waits for them."""

    async def read() -> Sums:
        store = ReadOnlySqlite(path)
        try:
            return await read_sums(store, start, now)
        finally:
            await store.close()

    try:
        sums = asyncio.run(read())
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"sqlite:{path}", f"{exc.__class__.__name__}: {exc}") from exc
    return check(fleet, agents, sums, now, start)


async def handle(gateway: Any, scope: Scope, receive: Receive, send: Send) -> None:
    who = runs.caller(scope, gateway.holder.runtime)  # 401 without a known token
    if not who.operator:
        raise ForbiddenError(
            "operator_only",
            "the fleet's health takes the operator's token (Secret fleet-operator-token); "
            "`fleetctl doctor` reads the same findings from the store",
        )
    if scope["method"] != "POST":
        raise MethodError(
            "method_not_allowed",
            f"{scope['method']} {PATH}: POST the fleet's definitions "
            '({"policy": <FleetPolicy spec>, "loops": {name: {"spec": …}}})',
        )
    raw = await read_bounded(
        scope,
        receive,
        MAX_BODY,
        TooLargeError("too_large", f"a fleet's definitions are at most {MAX_BODY >> 20} MiB"),
        "the client went away before sending the body; send it again",
    )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError("invalid_json", f"the body is not JSON: {exc}") from None
    fleet, agents, problems, days = _request(data)
    now = time.time()
    start = now - days * 86400
    store = gateway.store
    path = getattr(store, "path", ":memory:") if isinstance(store, SqliteStore) else ":memory:"
    if path != ":memory:":
        # Reading (SQLite is synchronous) and the checks are CPU-bound: both off the event
        # loop, so a model call is never held up by a large store's health check.
        found = await asyncio.to_thread(_check_off_loop, path, fleet, agents, now, start)
    else:  # Redis (network reads, awaited) or a store in memory
        sums = await read_sums(store, start, now)
        found = await asyncio.to_thread(check, fleet, agents, sums, now, start)
    await send_json(
        send,
        200,
        {
            "fleet": fleet.fleet,
            "now": now,
            "days": days,
            "errors": sum(1 for f in found if f.level == ERROR),
            "loops": verdicts(agents, found, problems, days),
        },
    )
