"""Cron expressions as loops write them: the five fields a Kubernetes CronJob accepts, plus
Jenkins' ``H``.

``H`` stands for a number derived from the loop's identity, so a fleet of loops that all say
``H 6 * * 1-5`` spreads over the hour instead of starting together at 06:00. The forms are
Jenkins' own, in any field:

* ``H``: one value in the field's whole range (day-of-month: 1-28, so every month has it);
* ``H(a-b)``: one value in ``a``-``b``;
* ``H/n`` and ``H(a-b)/n``: every ``n``-th value, from a hashed start below ``n``.

The hash is SHA-256 of the fleet and loop names, the field's name and the item's place in
the field's list: the same loop gets the same minute on every machine and every run (never
Python's ``hash()``, which is salted per process), and moving a loop from ``H 6`` to ``H 7``
keeps its minute. :func:`resolve` turns an
expression into the concrete one the CronJob carries; :func:`problem` says, naming the field
and its range, why an expression is not one; :func:`expand` gives the values of each field of
a concrete expression.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Field:
    name: str
    lo: int
    hi: int
    names: dict[str, int]
    hash_hi: int
    """The top of a bare ``H``'s range (day-of-month stops at 28: every month has the day)."""

    @property
    def allowed(self) -> str:
        extra = {"month": " or jan-dec", "day-of-week": " or sun-sat"}.get(self.name, "")
        return f"{self.name} is {self.lo}-{self.hi}{extra}"


FIELDS: tuple[Field, ...] = (
    Field("minute", 0, 59, {}, 59),
    Field("hour", 0, 23, {}, 23),
    Field("day-of-month", 1, 31, {}, 28),
    Field("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}, 12),
    Field("day-of-week", 0, 6, {d: i for i, d in enumerate(_DAYS)}, 6),
)
"""The five fields and the ranges a Kubernetes CronJob (robfig/cron's standard parser) accepts."""

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The macros a CronJob accepts, as the five fields they stand for (no hashing: as written)."""

H_FORMS = "H, H(a-b), H/n or H(a-b)/n"


class CronProblem(ValueError):
    """One field that is not what a CronJob accepts; the message names the field and range."""


def seed(fleet: str, loop: str) -> str:
    """What a loop's ``H`` is derived from: its fleet and its name."""
    return f"{fleet}/{loop}"


def _hash(salt: str) -> int:
    digest = hashlib.sha256(salt.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # '²' is a digit to str.isdigit


def _value(part: str, names: dict[str, int]) -> int | None:
    if _digits(part):
        return int(part) if len(part) <= 6 else 10**6  # int() of 5,000 digits raises
    return names.get(part.lower())


def _shown(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."


def _bounds(span: str, f: Field, shown: str) -> tuple[int, int]:
    """``a`` or ``a-b`` as numbers inside the field's range, or the problem with it."""
    parts = span.split("-", 1)
    values: list[int] = []
    for part in parts:
        value = _value(part, f.names)
        if value is None:
            raise CronProblem(
                f"{f.name} '{shown}' is not a number, range, list or step: {f.allowed}"
            )
        if not f.lo <= value <= f.hi:
            raise CronProblem(f"{f.name} '{shown}' is out of range: {f.allowed}")
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        raise CronProblem(f"{f.name} '{shown}' runs backwards: write the smaller number first")
    return values[0], values[-1]


def _step(step: str, f: Field, shown: str) -> int:
    value = _value(step, {}) if _digits(step) else None
    if not value:
        raise CronProblem(
            f"{f.name} '{shown}' has a bad step: a step is a whole number, at least 1"
        )
    return value


def _hashed(span: str, step: str | None, f: Field, shown: str, salt: str) -> list[int]:
    """The values an ``H`` item stands for: ``H``, ``H(a-b)``, each with an optional ``/n``."""
    if span == "H":
        lo, hi = f.lo, (f.hash_hi if step is None else f.hi)
    elif span.startswith("H(") and span.endswith(")") and len(span) > 3:
        lo, hi = _bounds(span[2:-1], f, shown)
    else:
        raise CronProblem(f"{f.name} '{shown}' is not a form of H: write {H_FORMS}, e.g. H(0-29)")
    h = _hash(salt)
    if step is None:
        return [lo + h % (hi - lo + 1)]
    n = _step(step, f, shown)
    if n > hi - lo + 1:
        raise CronProblem(
            f"{f.name} '{shown}' has a step larger than its range {lo}-{hi}: "
            f"a step is at most {hi - lo + 1} there"
        )
    return list(range(lo + h % n, hi + 1, n))


def _concrete(values: list[int]) -> str:
    """A hashed item's values as a CronJob field: a short list, else start-end/step."""
    if len(values) <= 4:
        return ",".join(map(str, values))
    return f"{values[0]}-{values[-1]}/{values[1] - values[0]}"


def _field(text: str, f: Field, seed_text: str) -> str:
    """One field checked, its ``H`` items replaced by numbers."""
    shown = _shown(text)
    out: list[str] = []
    for i, item in enumerate(text.split(",")):
        span, slash, step = item.partition("/")
        if span.startswith("H"):
            salt = f"{seed_text}\x00{f.name}\x00{i}"  # each H of a list draws its own value
            out.append(_concrete(_hashed(span, step if slash else None, f, shown, salt)))
            continue
        if span[:1] == "h" and (span == "h" or span.startswith("h(")):
            raise CronProblem(f"{f.name} '{shown}': write H in capitals ({H_FORMS})")
        if slash:
            _step(step, f, shown)
        if span in ("*", "?"):
            if span == "?" and f.name not in ("day-of-month", "day-of-week"):
                raise CronProblem(
                    f"{f.name} '{shown}': '?' is only allowed in day-of-month and day-of-week"
                )
        else:
            _bounds(span, f, shown)
        out.append(item)
    return ",".join(out)


def resolve(expr: str, seed_text: str) -> str:
    """The concrete expression a CronJob runs: every ``H`` replaced by the loop's numbers.

    Raises :class:`CronProblem` when ``expr`` is not a schedule. An expression without ``H``
    comes back as written.
    """
    if "H" not in expr:  # nothing of the loop's own: checked once per expression, not per loop
        found = problem(expr)
        if found:
            raise CronProblem(found)
        stripped = expr.strip()
        return stripped if stripped in MACROS else expr
    return _resolve_hashed(expr, seed_text)


@lru_cache(maxsize=8192)
def _resolve_hashed(expr: str, seed_text: str) -> str:
    return _resolved(expr, seed_text)


def _resolved(expr: str, seed_text: str) -> str:
    stripped = expr.strip()
    if stripped in MACROS:
        return stripped
    fields = expr.split()
    if len(fields) != 5:
        raise CronProblem(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    concrete = [_field(text, f, seed_text) for text, f in zip(fields, FIELDS, strict=True)]
    return expr if concrete == fields else " ".join(concrete)


@lru_cache(maxsize=8192)
def problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule (``H`` forms included), or ``None``."""
    try:
        _resolved(expr, "")
    except CronProblem as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Expanded:
    """The values of each field of a concrete expression, and whether day-of-month and
    day-of-week were written as ``*`` or ``?`` (robfig/cron: when both are restricted, a day
    matches either; otherwise both)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool
    dow_star: bool


def _values(text: str, f: Field) -> tuple[frozenset[int], bool]:
    out: set[int] = set()
    star = False
    for item in text.split(","):
        span, slash, step = item.partition("/")
        n = int(step) if slash else 1
        if span in ("*", "?"):
            star = star or n == 1  # robfig/cron: '*/2' is a restriction, not a star
            lo, hi = f.lo, f.hi
        else:
            parts = [_value(p, f.names) or 0 for p in span.split("-", 1)]
            lo = parts[0]
            hi = parts[-1] if len(parts) == 2 or not slash else f.hi
        out.update(range(lo, hi + 1, n))
    return frozenset(out), star


@lru_cache(maxsize=8192)
def expand(concrete: str) -> Expanded:
    """The values of a concrete expression (one :func:`resolve` returned) field by field."""
    fields = MACROS.get(concrete.strip(), concrete).split()
    sets = [_values(text, f) for text, f in zip(fields, FIELDS, strict=True)]
    return Expanded(
        minutes=tuple(sorted(sets[0][0])),
        hours=tuple(sorted(sets[1][0])),
        doms=sets[2][0],
        months=sets[3][0],
        dows=sets[4][0],
        dom_star=sets[2][1],
        dow_star=sets[4][1],
    )
