"""Triggers: cron expressions and time zones a Kubernetes CronJob accepts, and start minutes
too many loops share."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

from fleet import cron
from fleet.errors import Diagnostic, Severity
from fleet.load import LoadedAgent
from fleet.rules.base import (
    Context,
    _agents,
    at,
    rule,
)
from fleet.starts import Scheduled, crowds, describe
from fleet.yamlsrc import SourceMap

CRON_HINT = "the fields are minute hour day-of-month month day-of-week; e.g. '0 6 * * 1-5' is 06:00 on weekdays"


@lru_cache(maxsize=4096)
def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule a Kubernetes CronJob accepts once its ``H`` are
    resolved (:mod:`fleet.cron`), or ``None``."""
    problem = cron.problem(expr)
    if problem:
        return problem
    if not croniter.is_valid(cron.resolve(expr, "")):
        return "not a valid cron expression"
    return None


def _cron_hint(schedule: str, problem: str) -> str:
    if problem.startswith("expected 5 fields"):
        return "e.g. '0 6 * * 1-5' is 06:00 on weekdays"
    if "H" in schedule or "'h" in problem:
        return (
            f"H is {cron.H_FORMS}, a value of the loop's own in that range; "
            "e.g. 'H 6 * * 1-5' is one minute of 06:00 on weekdays, the same on every compile"
        )
    return CRON_HINT


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """IANA zone names by their case-folded form (``europe/berlin`` → ``Europe/Berlin``)."""
    return {z.casefold(): z for z in available_timezones()}


@lru_cache(maxsize=1024)
def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone '{name}'"
    return None


def zone_hint(name: str) -> str:
    """ "did you mean" among the IANA zones; the example names when nothing is close."""
    zones = _zones()
    if len(name) > 64:
        return "use an IANA name such as Europe/Berlin, America/New_York or UTC"
    exact = zones.get(name.casefold())
    if exact:
        return f"did you mean '{exact}'?"
    close = difflib.get_close_matches(name, list(zones.values()), n=1, cutoff=0.7)
    if not close:  # a city alone: 'Berlin' → 'Europe/Berlin'
        by_city = {z.rsplit("/", 1)[-1].casefold(): z for z in zones.values()}
        close = difflib.get_close_matches(name.casefold(), list(by_city), n=1, cutoff=0.8)
        close = [by_city[c] for c in close]
    if close:
        return f"did you mean '{close[0]}'?"
    return "use an IANA name such as Europe/Berlin, America/New_York or UTC"


@rule(
    "FL171",
    "invalid-cron",
    Severity.ERROR,
    "A trigger schedule is not a valid 5-field cron expression.",
)
def invalid_cron(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        schedule = la.agent.trigger.schedule
        problem = cron_problem(schedule) if schedule is not None else None  # webhook-only
        if schedule is not None and problem:
            yield at(
                la.smap,
                ("agent", "trigger", "schedule"),
                f"schedule '{_shown(schedule)}': {problem}",
                _cron_hint(schedule, problem),
            )


@rule("FL172", "unknown-timezone", Severity.ERROR, "A time zone is not an IANA zone name.")
def unknown_timezone(ctx: Context) -> Iterator[Diagnostic]:
    if zone_problem(ctx.fleet.fleet.timezone):
        yield at(
            ctx.fleet.fleet_map,
            ("timezone",),
            f"unknown time zone '{ctx.fleet.fleet.timezone}'",
            zone_hint(ctx.fleet.fleet.timezone),
        )
    for la in _agents(ctx):
        tz = la.agent.trigger.timezone
        if zone_problem(tz):
            yield at(
                la.smap,
                ("agent", "trigger", "timezone"),
                f"unknown time zone '{tz}'",
                zone_hint(tz),
            )


_NAMED = 5


@rule(
    "FL173",
    "crowded-start-minute",
    Severity.WARNING,
    "More loops than schedules.max_starts_per_minute start in the same minute (write H in their "
    "schedules).",
)
def crowded_start_minute(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    limit = fleet.schedules.max_starts_per_minute
    by_name: dict[str, LoadedAgent] = {}
    scheduled: list[Scheduled] = []
    for la in _agents(ctx):
        trigger = la.agent.trigger
        if trigger.schedule is None or trigger.suspend or cron_problem(trigger.schedule):
            continue
        by_name[la.agent.name] = la
        concrete = cron.resolve(trigger.schedule, cron.seed(fleet.fleet, la.agent.name))
        scheduled.append(Scheduled(la.agent.name, concrete, trigger.timezone))
    if len(scheduled) <= limit:
        return
    where = ("agent", "trigger", "schedule")
    for crowd in crowds(scheduled, limit):
        first, *rest = crowd.loops
        named = ", ".join(crowd.loops[:_NAMED])
        more = len(crowd.loops) - _NAMED
        smap = by_name[first].smap
        yield at(
            smap,
            where,
            f"{len(crowd.loops)} loops start at {describe(crowd.minutes, crowd.timezone)}, "
            f"more than schedules.max_starts_per_minute ({limit}): "
            + named
            + (f" and {more} more" if more > 0 else ""),
            "use H so each loop gets a minute of its own: 'H 6 * * 1-5' spreads them over "
            "06:00-06:59, 'H H(5-8) * * 1-5' over four hours; "
            "or raise schedules.max_starts_per_minute in fleet.yaml",
            related=tuple(_located(by_name[n].smap, where) for n in rest),
        )


def _located(smap: SourceMap, path: tuple[str, ...]) -> str:
    line, col = smap.locate(path)
    return f"{smap.file}:{line}:{col}"
