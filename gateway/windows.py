"""Budget windows (day, week, month) in the fleet's time zone: their keys and reset times."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_current: dict[tuple[str, str], tuple[float, str, float]] = {}


def window(kind: str, tz: str, now: float) -> tuple[str, float]:
    """The window's key (e.g. ``day:2026-11-22``) and when it resets (epoch seconds).

    Cached until the window ends: the hot path asks once per request.
    """
    cached = _current.get((kind, tz))
    if cached is not None and cached[0] <= now < cached[2]:
        return cached[1], cached[2]
    key, start, end = _compute(kind, tz, now)
    _current[(kind, tz)] = (start, key, end)
    return key, end


def _compute(kind: str, tz: str, now: float) -> tuple[str, float, float]:
    local = dt.datetime.fromtimestamp(now, _zone(tz))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "day":
        start, end = midnight, midnight + dt.timedelta(days=1)
        key = f"day:{start:%Y-%m-%d}"
    elif kind == "week":
        start = midnight - dt.timedelta(days=local.weekday())
        end = start + dt.timedelta(days=7)
        year, week, _ = start.isocalendar()
        key = f"week:{year}-W{week:02d}"
    elif kind == "month":
        start = midnight.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        key = f"month:{start:%Y-%m}"
    else:
        raise ValueError(kind)
    # Rebuild in the zone so a DST change inside the window is honoured.
    end = end.replace(tzinfo=None).replace(tzinfo=_zone(tz))
    start = start.replace(tzinfo=None).replace(tzinfo=_zone(tz))
    return key, start.timestamp(), end.timestamp()
