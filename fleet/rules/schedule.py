"""Triggers: cron expressions and time zones a Kubernetes CronJob accepts."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from fleet.errors import Diagnostic, Severity
from fleet.rules.base import (
    Context,
    _agents,
    at,
    rule,
)


@lru_cache(maxsize=4096)
def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule a Kubernetes CronJob accepts, or ``None``."""
    macros = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
    if expr.strip() in macros:
        return None
    if len(expr.split()) != 5:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(expr.split())}"
    if not croniter.is_valid(expr):
        return "not a valid cron expression"
    return None


@lru_cache(maxsize=1024)
def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}'"
    return None


@rule(
    "FL171",
    "invalid-cron",
    Severity.ERROR,
    "A trigger schedule is not a valid 5-field cron expression.",
)
def invalid_cron(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        problem = cron_problem(la.agent.trigger.schedule)
        if problem:
            yield at(
                la.smap,
                ("agent", "trigger", "schedule"),
                f"schedule '{la.agent.trigger.schedule}': {problem}",
                "e.g. '0 6 * * 1-5' is 06:00 on weekdays",
            )


@rule("FL172", "unknown-timezone", Severity.ERROR, "A time zone is not an IANA zone name.")
def unknown_timezone(ctx: Context) -> Iterator[Diagnostic]:
    if zone_problem(ctx.fleet.fleet.timezone):
        yield at(
            ctx.fleet.fleet_map,
            ("timezone",),
            f"unknown time zone '{ctx.fleet.fleet.timezone}'",
            "use an IANA name such as Europe/Berlin or UTC",
        )
    for la in _agents(ctx):
        tz = la.agent.trigger.timezone
        if zone_problem(tz):
            yield at(
                la.smap,
                ("agent", "trigger", "timezone"),
                f"unknown time zone '{tz}'",
                "use an IANA name such as Europe/Berlin, America/New_York or UTC",
            )
