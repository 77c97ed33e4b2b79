"""The checks of ``POST /v1/fleet/health``, run in a child process of the gateway.

The gateway reads the store's sums itself (:mod:`gateway.health`); the checks need the
fleet's definitions as :mod:`fleet.spec` models, and so pydantic, which the process that
serves model calls does not load (about 20 MB of its memory). Each request starts
``python -m gateway.healthcheck``: the request (the operator's body as it came, the window
and the sums, see :func:`read_request`) comes on standard input, and the answer goes out as
one JSON document on standard output, either ``{"fleet", "errors", "loops"}`` or
``{"error": {"code", "message", "param"}}`` for a policy that cannot be read. The child's
start and imports are about 0.16 s of CPU; a request at 1,000 loops costs 0.76–0.79 s with the
gateway's reads (``bench/health.py``), once a period (a minute by default) per fleet.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from fleet.doctor import ERROR, Finding, Thresholds, diagnose_sums
from fleet.resources import agent_of, fleet_of
from fleet.spec import Agent, Fleet

if TYPE_CHECKING:
    from gateway.health import Sums

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


def definitions(
    policy: Mapping[str, Any], loops: Mapping[str, Any]
) -> tuple[Fleet, list[Agent], dict[str, str]]:
    """(fleet, agents, loop → why its spec was not read). Raises ``ValueError`` for a
    policy that cannot be read."""
    fleet = fleet_of(policy)
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
    return fleet, agents, problems


def check(fleet: Fleet, agents: list[Agent], sums: Sums, now: float, start: float) -> list[Finding]:
    heads, spend, wrote = sums
    return diagnose_sums(
        fleet, agents, heads, spend, wrote, now=now, since=start, thresholds=Thresholds()
    )


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


def sums_of_json(data: Any) -> Sums:
    """The sums as :mod:`gateway.health` sends them (JSON has no tuples and no sets)."""
    heads, spend, wrote = data
    return heads, {k: (float(a), float(b)) for k, (a, b) in spend.items()}, set(wrote)


def answer(request: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint's answer to one request the gateway has read and summed."""
    try:
        fleet, agents, problems = definitions(request["policy"], request["loops"])
    except ValueError as exc:
        return {"error": {"code": "invalid_policy", "message": str(exc), "param": "policy"}}
    now, start, days = request["now"], request["start"], request["days"]
    found = check(fleet, agents, sums_of_json(request["sums"]), now, start)
    return {
        "fleet": fleet.fleet,
        "errors": sum(1 for f in found if f.level == ERROR),
        "loops": verdicts(agents, found, problems, days),
    }


def read_request(data: bytes) -> dict[str, Any]:
    """The request :func:`gateway.health.run_checks` writes: a line with two lengths, the
    operator's body, the window (days, now, start), then the sums."""
    line = data.index(b"\n")
    n_body, n_meta = (int(n) for n in data[:line].split())
    at = line + 1
    body, meta = data[at : at + n_body], data[at + n_body : at + n_body + n_meta]
    return {
        **orjson.loads(body),
        **orjson.loads(meta),
        "sums": orjson.loads(data[at + n_body + n_meta :]),
    }


def main() -> None:
    sys.stdout.buffer.write(orjson.dumps(answer(read_request(sys.stdin.buffer.read()))))


if __name__ == "__main__":
    main()
