"""The store's reads for ``fleetctl cost`` and ``fleetctl doctor``: sums over a window of
per-call traces and run records, not the records themselves.

Two implementations of each read give the same answer. :class:`SqlReports` runs SQL
``GROUP BY`` over the projected columns (:mod:`gateway.store.projection`), reading an
index and a side table instead of decoding ~600,000 trace bodies and ~200,000 run
records for a month of a thousand loops. :class:`PyReports` folds decoded records in
one linear pass, through the same :func:`~gateway.store.projection.project`: the Redis
store uses it (its traces are a stream of bodies), and so does the SQLite store while
the journal still holds traces the database has not applied.

Spend is summed from the per-call records only, never from a run record's running
total (:mod:`fleet.economics` says why). Groups are plain dicts with the fields of
:class:`fleet.economics.Group` that calls give: ``key``, ``cost_usd``, ``maker_usd``,
``subagent_usd``, ``requests``, ``tool_calls``, ``tokens_in``, ``tokens_out``, and for
the groupings a run record does not carry (``model``, ``role``) ``runs`` (runs with a
call in the group) and ``useful`` (those of them opened in the window whose outcome is
``useful``).
"""

from __future__ import annotations

import math
import sqlite3
import sys
from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from gateway.store.projection import DAY_S, project

# More records than any window holds: a report reads the whole window.
READ_ALL = 1_000_000_000
CALL_GROUPS = ("loop", "team", "model", "role", "run")
RUN_GROUPS = ("loop", "run")
RUN_HEAD = ("id", "loop", "status", "outcome", "started", "updated", "checker_rounds")


class Reports(Protocol):
    """What a report reads from a store (:meth:`gateway.store.Store.read_report`)."""

    def call_groups(self, since: float, by: str, useful: str) -> list[dict[str, Any]]:
        """Per-call sums of the traces at or after ``since``, grouped by ``by``
        (loop, team, model, role or run)."""
        ...

    def run_groups(self, since: float, by: str, useful: str) -> list[tuple[str, int, int]]:
        """(key, runs, useful) of the run records opened at or after ``since``, by loop or run."""
        ...

    def loop_teams(self, since: float) -> dict[str, str]:
        """The team of each loop's first call at or after ``since``."""
        ...

    def run_heads(self, since: float) -> list[dict[str, Any]]:
        """The fields of :data:`RUN_HEAD` of each run record opened at or after ``since``,
        newest first."""
        ...

    def loop_spend(self, since: float, split: float) -> dict[str, tuple[float, float]]:
        """Each loop's spend from ``since`` to ``split``, and from ``split`` on."""
        ...

    def written_runs(self, since: float) -> set[str]:
        """The runs with a successful write or destructive tool call at or after ``since``."""
        ...


def _group(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "cost_usd": 0.0,
        "maker_usd": 0.0,
        "subagent_usd": 0.0,
        "requests": 0,
        "tool_calls": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "runs": None,
        "useful": None,
    }


def _check(by: str, allowed: tuple[str, ...]) -> None:
    if by not in allowed:
        raise ValueError(f"cannot group by {by!r}: one of {', '.join(allowed)}")


def _parts(lo: float, hi: float) -> list[tuple[str, float, float]]:
    """[lo, hi) as the whole days ``call_days`` sums and the cut days' traces around them."""
    first = math.ceil(lo / DAY_S)
    last = math.floor(hi / DAY_S) if math.isfinite(hi) else sys.maxsize
    if first >= last:
        return [("traces", lo, hi)]
    parts: list[tuple[str, float, float]] = [("days", first, last)]
    if lo < first * DAY_S:
        parts.append(("traces", lo, first * DAY_S))
    if math.isfinite(hi) and last * DAY_S < hi:
        parts.append(("traces", last * DAY_S, hi))
    return parts


_LOOP = "coalesce(nullif(loop, ''), '-')"
_ROLE = "CASE WHEN maker THEN 'maker' ELSE 'sub-agent' END"
_DAY_COLS = (
    "cost, CASE WHEN maker THEN cost ELSE 0.0 END, calls, tools, tokens_in, tokens_out, first"
)
_RAW_COLS = (
    "cost, CASE WHEN maker THEN cost ELSE 0.0 END, 1, kind IS 'tool', tokens_in, tokens_out, ts"
)


class SqlReports:
    """The reads as SQL over one connection (the caller holds a read transaction)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def _union(
        self, spans: list[tuple[float, float, int]], day_cols: str, raw_cols: str, where: str = ""
    ) -> tuple[str, list[Any]]:
        """One ``UNION ALL`` of ``call_days`` and ``traces`` rows covering ``spans``
        ([lo, hi), tagged): each row is its span's tag then the columns asked for."""
        selects, args = [], []
        for lo, hi, tag in spans:
            for table, a, b in _parts(lo, hi):
                if table == "days":
                    selects.append(
                        f"SELECT {tag}, {day_cols} FROM call_days WHERE day >= ? AND day < ?{where}"
                    )
                else:
                    selects.append(
                        f"SELECT {tag}, {raw_cols} FROM traces INDEXED BY traces_report "
                        f"WHERE ts >= ? AND ts < ?{where}"
                    )
                args += [a, b]
        return " UNION ALL ".join(selects), args

    def call_groups(self, since: float, by: str, useful: str) -> list[dict[str, Any]]:
        _check(by, CALL_GROUPS)
        if by == "run":  # a group a run: the traces themselves
            sql = (
                "SELECT coalesce(nullif(t.run, ''), '-') AS k, total(t.cost), total(CASE WHEN t.maker THEN t.cost END), "
                "count(*), total(t.kind IS 'tool'), total(t.tokens_in), total(t.tokens_out) "
                "FROM traces t INDEXED BY traces_report WHERE t.ts >= ? GROUP BY k"
            )
            args: list[Any] = [since]
        else:
            key = {"loop": _LOOP, "team": "team", "model": "model", "role": _ROLE}[by]
            union, args = self._union(
                [(since, math.inf, 0)], f"{key}, {_DAY_COLS}", f"{key}, {_RAW_COLS}"
            )
            sql = (
                f"WITH u(tag, k, c, m, n, t, i, o, f) AS ({union}) SELECT k, total(c), "
                "total(m), total(n), total(t), total(i), total(o) FROM u GROUP BY k"
            )
        out = {}
        for row in self.db.execute(sql, args):
            g = _group(row[0])
            tools = int(row[4])
            g.update(
                cost_usd=row[1],
                maker_usd=row[2],
                subagent_usd=row[1] - row[2],
                requests=int(row[3]) - tools,
                tool_calls=tools,
                tokens_in=int(row[5]),
                tokens_out=int(row[6]),
            )
            if by in ("model", "role"):
                g["runs"], g["useful"] = 0, 0
            out[g["key"]] = g
        if by in ("model", "role"):
            for key, runs, done in self._touched(since, by, useful):
                out[key]["runs"], out[key]["useful"] = runs, done
        return list(out.values())

    def _touched(self, since: float, by: str, useful: str) -> list[tuple[str, int, int]]:
        """(group, runs with a call in it, those of them opened in the window and
        ``useful``): the traces themselves, for a run's calls fall on any day."""
        key = "model" if by == "model" else _ROLE
        return self.db.execute(
            f"SELECT {key} AS k, count(DISTINCT run), count(DISTINCT CASE WHEN run IN "
            "(SELECT key FROM run_index WHERE created >= ? AND outcome = ?) THEN run END) "
            "FROM traces INDEXED BY traces_report WHERE ts >= ? AND run != '' GROUP BY k",
            (since, useful, since),
        ).fetchall()

    def run_groups(self, since: float, by: str, useful: str) -> list[tuple[str, int, int]]:
        _check(by, RUN_GROUPS)
        key = "coalesce(nullif(loop, ''), '-')" if by == "loop" else "key"
        return self.db.execute(
            f"SELECT {key} AS k, count(*), sum(outcome IS ?) FROM run_index "
            "WHERE created >= ? GROUP BY k",
            (useful, since),
        ).fetchall()

    def loop_teams(self, since: float) -> dict[str, str]:
        union, args = self._union(
            [(since, math.inf, 0)], f"{_LOOP}, team, first", f"{_LOOP}, team, ts"
        )
        # One min() in the query: SQLite takes the bare column from the row holding it.
        rows = self.db.execute(
            f"WITH u(tag, k, team, f) AS ({union}) SELECT k, team, min(f) FROM u GROUP BY k", args
        )
        return {loop: team for loop, team, _ in rows}

    def run_heads(self, since: float) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT key, loop, status, outcome, started, updated, checker_rounds FROM run_index "
            "WHERE created >= ? ORDER BY created DESC",
            (since,),
        )
        return [dict(zip(RUN_HEAD, row, strict=True)) for row in rows]

    def loop_spend(self, since: float, split: float) -> dict[str, tuple[float, float]]:
        union, args = self._union(
            [(since, split, 0), (max(since, split), math.inf, 1)],
            "loop, cost",
            "loop, cost",
            " AND loop IS NOT NULL AND loop != ''",
        )
        rows = self.db.execute(
            f"WITH u(tag, k, c) AS ({union}) SELECT k, total(CASE WHEN tag = 0 THEN c END), "
            "total(CASE WHEN tag = 1 THEN c END) FROM u GROUP BY k",
            args,
        )
        return {loop: (before, after) for loop, before, after in rows}

    def written_runs(self, since: float) -> set[str]:
        rows = self.db.execute(
            "SELECT run FROM traces INDEXED BY traces_wrote WHERE ts >= ? AND wrote = 1", (since,)
        )
        return {run or "" for (run,) in rows}


def run_record(row: dict[str, Any]) -> dict[str, Any] | None:
    """The run record a ``fleet_runs`` row holds (None for a row that holds none)."""
    try:
        value = orjson.loads(row.get("data") or b"")
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


class PyReports:
    """The same reads over decoded traces (oldest first) and run records of the window."""

    def __init__(self, traces: Iterable[dict[str, Any]], runs: Iterable[dict[str, Any]]):
        self.traces = list(traces)
        self.runs = list(runs)

    def call_groups(self, since: float, by: str, useful: str) -> list[dict[str, Any]]:
        _check(by, CALL_GROUPS)
        groups: dict[str, dict[str, Any]] = {}
        touched: dict[str, set[str]] = {}
        done = {str(r.get("id")) for r in self.runs if r.get("outcome") == useful}
        for t in self.traces:
            if (t.get("ts") or 0.0) < since:
                continue
            maker, team, model, cost, tin, tout, _ = project(t)
            loop = t.get("loop") or "-"
            key = {
                "loop": loop,
                "team": team,
                "model": model,
                "role": "maker" if maker else "sub-agent",
                "run": str(t.get("run") or "-"),
            }[by]
            g = groups.get(key)
            if g is None:
                g = groups[key] = _group(key)
            g["cost_usd"] += cost
            g["maker_usd" if maker else "subagent_usd"] += cost
            g["tool_calls" if t.get("kind") == "tool" else "requests"] += 1
            g["tokens_in"] += tin
            g["tokens_out"] += tout
            if by in ("model", "role") and t.get("run"):
                touched.setdefault(key, set()).add(str(t.get("run")))
        for key, ids in touched.items():
            groups[key]["runs"], groups[key]["useful"] = len(ids), len(ids & done)
        for g in groups.values():
            if by in ("model", "role") and g["runs"] is None:
                g["runs"], g["useful"] = 0, 0
        return list(groups.values())

    def run_groups(self, since: float, by: str, useful: str) -> list[tuple[str, int, int]]:
        _check(by, RUN_GROUPS)
        out: dict[str, list[int]] = {}
        for r in self.runs:
            key = str(r.get("loop") or "-") if by == "loop" else str(r.get("id"))
            row = out.setdefault(key, [0, 0])
            row[0] += 1
            row[1] += r.get("outcome") == useful
        return [(k, n, u) for k, (n, u) in out.items()]

    def loop_teams(self, since: float) -> dict[str, str]:
        teams: dict[str, str] = {}
        for t in self.traces:
            if (t.get("ts") or 0.0) >= since:
                teams.setdefault(t.get("loop") or "-", project(t)[1])
        return teams

    def run_heads(self, since: float) -> list[dict[str, Any]]:
        return [{f: r.get(f) for f in RUN_HEAD} for r in self.runs]

    def loop_spend(self, since: float, split: float) -> dict[str, tuple[float, float]]:
        out: dict[str, list[float]] = {}
        for t in self.traces:
            ts, loop = t.get("ts") or 0.0, t.get("loop")
            if ts < since or not loop:
                continue
            row = out.setdefault(loop, [0.0, 0.0])
            row[ts >= split] += project(t)[3]
        return {k: (v[0], v[1]) for k, v in out.items()}

    def written_runs(self, since: float) -> set[str]:
        return {
            t.get("run") or ""
            for t in self.traces
            if (t.get("ts") or 0.0) >= since and project(t)[6]
        }
