"""When loops start, and the minutes too many of them share.

A cluster feels a fleet's schedules as pods created at once: 300 loops on ``0 6 * * 1-5`` are
300 pods at 06:00 sharp. This module finds those minutes without walking a calendar.

Each loop's concrete schedule becomes its set of start minutes of the week (day-of-week,
hour, minute), moved to UTC by its time zone's offset, so that ``0 6`` in Europe/Berlin and
``0 5`` in UTC meet (offsets are taken in January and in July: daylight saving time moves
them). Loops whose day-of-month or month is restricted start only on some dates: they are
grouped by that set of dates (a day of a leap year), and counted on top of the every-week
loops on each date, in any week that date falls in. Days follow robfig/cron: when both
day-of-month and day-of-week are restricted a day matches either, so such a loop is split
into its every-week part (its weekdays) and its dated part (the other weekdays).

The cost is the loops' start minutes in a week (a handful each for daily schedules), plus,
per distinct set of dated groups active on some date (a few in a real fleet), their minutes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from fleet.cron import Expanded, expand

WEEK = 7 * 24 * 60
_ALL_DAYS = frozenset(range(7))
_SEASONS = (
    dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC),
    dt.datetime(2027, 7, 15, 12, tzinfo=dt.UTC),
)
_LEAP = 2028  # every (month, day) a cron field can name exists in it
_DATES = [
    (d.month, d.day) for d in (dt.date(_LEAP, 1, 1) + dt.timedelta(days=i) for i in range(366))
]


@dataclass(frozen=True)
class Scheduled:
    """One loop that starts on a schedule: its name, concrete expression and time zone."""

    name: str
    schedule: str
    timezone: str


@dataclass(frozen=True)
class Crowd:
    """More loops than the limit allows that start in the same minutes."""

    loops: tuple[str, ...]
    minutes: tuple[int, ...]
    """Minutes of the week (0 is Sunday 00:00), in ``timezone``."""
    timezone: str
    """The loops' time zone when they share one, else UTC."""


@lru_cache(maxsize=1024)
def _offsets(zone: str) -> tuple[int, ...]:
    """Minutes east of UTC in each season; UTC for a zone the time zone rule reports."""
    try:
        tz = ZoneInfo(zone)
    except (ValueError, OSError, KeyError):
        return (0,) * len(_SEASONS)
    return tuple(
        int((at.astimezone(tz).utcoffset() or dt.timedelta()).total_seconds() // 60)
        for at in _SEASONS
    )


@lru_cache(maxsize=1024)
def _dates(months: frozenset[int], doms: frozenset[int]) -> frozenset[int] | None:
    """The days of the leap year in both sets; ``None`` for every day."""
    if len(months) == 12 and len(doms) == 31:
        return None
    return frozenset(i for i, (m, d) in enumerate(_DATES) if m in months and d in doms)


def _parts(e: Expanded) -> list[tuple[frozenset[int] | None, frozenset[int]]]:
    """(dates, weekdays) pairs that together make the loop's days, without overlap."""
    if e.dom_star or e.dow_star:
        return [(_dates(e.months, e.doms), e.dows)]
    all_doms = frozenset(range(1, 32))
    return [
        (_dates(e.months, all_doms), e.dows),
        (_dates(e.months, e.doms), _ALL_DAYS - e.dows),
    ]


Bucket = dict[int, list[int]]
"""Minute of the UTC week → the alike groups (indexes) that start in it."""


@dataclass(frozen=True)
class _Alike:
    """Loops with one concrete schedule and time zone: they always start together."""

    names: tuple[str, ...]
    expanded: Expanded
    timezone: str


def _add(bucket: Bucket, g: int, weekdays: frozenset[int], times: list[int], shift: int) -> None:
    for day in weekdays:
        base = day * 1440 - shift
        for t in times:
            bucket.setdefault((base + t) % WEEK, []).append(g)


def _season(alike: list[_Alike], season: int, limit: int) -> Iterable[tuple[frozenset[str], int]]:
    """(loops, UTC minute of the week) wherever more than ``limit`` start together."""
    sizes = [len(a.names) for a in alike]
    every_week: Bucket = {}
    dated: dict[frozenset[int], Bucket] = defaultdict(dict)
    for g, a in enumerate(alike):
        shift = _offsets(a.timezone)[season]
        e = a.expanded
        times = [h * 60 + m for h in e.hours for m in e.minutes]
        for dates, weekdays in _parts(e):
            if dates is None:
                _add(every_week, g, weekdays, times, shift)
            elif dates:
                _add(dated[dates], g, weekdays, times, shift)

    seen: dict[tuple[int, ...], frozenset[str]] = {}

    def names(groups: list[int]) -> frozenset[str]:
        key = tuple(groups)
        if key not in seen:  # one set per combination: every minute it crowds shares it
            seen[key] = frozenset(n for g in groups for n in alike[g].names)
        return seen[key]

    for minute, groups in every_week.items():
        if sum(sizes[g] for g in groups) > limit:
            yield names(groups), minute
    if not dated:
        return
    by_dates = list(dated.items())
    together = {
        tuple(i for i, (dates, _) in enumerate(by_dates) if day in dates) for day in range(366)
    }
    for active in together:
        at_minute: Bucket = defaultdict(list)
        for i in active:
            for minute, groups in by_dates[i][1].items():
                at_minute[minute].extend(groups)
        for minute, groups in at_minute.items():
            groups = groups + every_week.get(minute, [])
            if sum(sizes[g] for g in groups) > limit:
                yield names(groups), minute


def crowds(loops: Iterable[Scheduled], limit: int) -> list[Crowd]:
    """Every set of more than ``limit`` loops that start in the same minute, largest first;
    a set inside a larger one is left out (the fix, ``H``, is the same)."""
    by_schedule: dict[tuple[str, str], list[str]] = defaultdict(list)
    zones: dict[str, str] = {}
    for loop in loops:
        by_schedule[(loop.schedule, loop.timezone)].append(loop.name)
        zones[loop.name] = loop.timezone
    alike = [_Alike(tuple(n), expand(s), z) for (s, z), n in by_schedule.items()]
    found: dict[frozenset[str], tuple[int, set[int]]] = {}
    for season in range(len(_SEASONS)):
        for names, minute in _season(alike, season, limit):
            first_season, minutes = found.setdefault(names, (season, set()))
            if first_season == season:
                minutes.add(minute)
    kept: list[frozenset[str]] = []
    for names in sorted(found, key=lambda s: (-len(s), min(found[s][1]))):
        if not any(names <= other for other in kept):
            kept.append(names)
    out = []
    for names in kept:
        season, minutes = found[names]
        zone_set = {zones[n] for n in names}
        zone = zone_set.pop() if len(zone_set) == 1 else "UTC"
        shift = _offsets(zone)[season] if zone != "UTC" else 0
        local = tuple(sorted((m + shift) % WEEK for m in minutes))
        out.append(Crowd(tuple(sorted(names)), local, zone))
    return out


def describe(minutes: Iterable[int], zone: str) -> str:
    """``06:00 Europe/Berlin on mon-fri``; several times joined, at most three shown."""
    by_time: dict[int, list[int]] = defaultdict(list)
    for m in sorted(minutes):
        by_time[m % 1440].append(m // 1440)
    parts = [f"{t // 60:02d}:{t % 60:02d} {zone} {_days(days)}" for t, days in by_time.items()]
    shown = ", ".join(parts[:3])
    return shown + (f" and {len(parts) - 3} more times" if len(parts) > 3 else "")


_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _days(days: list[int]) -> str:
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return "on " + ", ".join(
        _NAMES[r[0]] if len(r) == 1 else f"{_NAMES[r[0]]}-{_NAMES[r[-1]]}" for r in runs
    )
