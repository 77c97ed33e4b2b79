"""Triggers: cron expressions and time zones a Kubernetes CronJob accepts."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

from fleet.errors import Diagnostic, Severity
from fleet.rules.base import (
    Context,
    _agents,
    at,
    rule,
)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day-of-week", 0, 6, {d: i for i, d in enumerate(_DAYS)}),
)
"""The five fields and the ranges a Kubernetes CronJob (robfig/cron's standard parser) accepts."""
CRON_HINT = "the fields are minute hour day-of-month month day-of-week; e.g. '0 6 * * 1-5' is 06:00 on weekdays"


def _allowed(name: str, lo: int, hi: int) -> str:
    extra = {"month": " or jan-dec", "day-of-week": " or sun-sat"}.get(name, "")
    return f"{name} is {lo}-{hi}{extra}"


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # '²' is a digit to str.isdigit


def _value(part: str, names: dict[str, int]) -> int | None:
    if _digits(part):
        return int(part) if len(part) <= 6 else 10**6  # int() of 5,000 digits raises
    return names.get(part.lower())


def _field_problem(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> str | None:
    """Why one field is not what robfig/cron accepts, naming the field and its range."""
    allowed = _allowed(name, lo, hi)
    shown = text if len(text) <= 24 else text[:21] + "..."
    for item in text.split(","):
        span, slash, step = item.partition("/")
        if slash and not (_digits(step) and (_value(step, {}) or 0) >= 1):
            return f"{name} '{shown}' has a bad step: a step is a whole number, at least 1"
        if span in ("*", "?"):
            if span == "?" and name not in ("day-of-month", "day-of-week"):
                return f"{name} '{shown}': '?' is only allowed in day-of-month and day-of-week"
            continue
        bounds: list[int] = []
        for part in span.split("-", 1):
            value = _value(part, names)
            if value is None:
                return f"{name} '{shown}' is not a number, range, list or step: {allowed}"
            if not lo <= value <= hi:
                return f"{name} '{shown}' is out of range: {allowed}"
            bounds.append(value)
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            return f"{name} '{shown}' runs backwards: write the smaller number first"
    return None


@lru_cache(maxsize=4096)
def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule a Kubernetes CronJob accepts, or ``None``."""
    macros = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
    if expr.strip() in macros:
        return None
    fields = expr.split()
    if len(fields) != 5:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for text, (name, lo, hi, names) in zip(fields, CRON_FIELDS, strict=True):
        problem = _field_problem(text, name, lo, hi, names)
        if problem:
            return problem
    if not croniter.is_valid(expr):
        return "not a valid cron expression"
    return None


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
                "e.g. '0 6 * * 1-5' is 06:00 on weekdays"
                if problem.startswith("expected 5 fields")
                else CRON_HINT,
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
