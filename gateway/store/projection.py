"""The fields ``fleetctl cost`` and ``fleetctl doctor`` read, kept beside the records in
the SQLite store, so a month of records is summed by SQL instead of decoded in Python.

A trace's body is JSON that only a reader who decodes it can sum: a month of a
thousand loops is ~600,000 of them, seconds of decoding for a report that needs a few
numbers of each. So each trace gets its *projection*, columns of its own row written
in the same transaction as the trace (by the fold process, off the request path):
whether it is the loop's own call (``maker``), its ``team``, its ``model`` (virtual
model, or MCP server), ``cost``, ``tokens_in``/``tokens_out`` and ``wrote`` (a
successful write or destructive tool call). A covering index over ``ts`` and these
columns lets a window be summed without reading a body.

Run records (table ``fleet_runs`` of the durable rows: ``{"state", "data": "<record
JSON>"}``, written by :mod:`gateway.runs.records`) get a side table, ``run_index``, kept
by SQLite triggers on the rows table: in the same statement as the row, whoever writes
it, with the record's loop, status, outcome, times and checker rounds.

:func:`project` is the one definition of these fields: the fold uses it, the migration
backfills with it, and the Python reports (:mod:`gateway.store.report`, for Redis and
for records still in the journal) read traces through it.

Each UTC day's sums per loop, team, model and role go to ``call_days`` in the same
commit, so a month's report reads ~30 rows a loop and the traces of the two days the
window cuts through.

Migration: a database older than these (``PRAGMA user_version`` below :data:`VERSION`)
gets the columns, the indexes, the side tables and the triggers, and one backfill of
what it holds, in one transaction, when the gateway opens it. Readers (``fleetctl
cost``, ``doctor``) do not migrate: they read an older database through the decoded
records, as before.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

VERSION = 2
DAY_S = 86400
RUNS_TABLE = "fleet_runs"  # gateway.runs.records.RUNS (a test checks they agree)
# Traces backfilled per statement batch while migrating (bounded memory).
BACKFILL = 20_000

COLUMNS = ("maker", "team", "model", "cost", "tokens_in", "tokens_out", "wrote")
Projected = tuple[int, str, str, float, int, int, int]

_RUN_FIELDS = ("loop", "status", "outcome", "started", "updated", "checker_rounds")


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def project(t: dict[str, Any]) -> Projected:
    """The projected fields of one trace, named as :mod:`fleet.economics` and
    :mod:`fleet.doctor` read them from the trace itself."""
    loop = t.get("loop") or "-"
    member = t.get("member")
    wrote = (
        t.get("kind") == "tool"
        and t.get("tool_class") in ("write", "destructive")
        and t.get("outcome") in ("ok", "replayed")
        and not t.get("error")
    )
    return (
        1 if not member or member == loop else 0,
        str(t.get("team") or "-"),
        str(t.get("virtual_model") or t.get("server") or "-"),
        _number(t.get("cost_usd")),
        _count(t.get("tokens_in")),
        _count(t.get("tokens_out")),
        1 if wrote else 0,
    )


def project_body(body: bytes) -> Projected:
    """:func:`project` of an encoded trace (one that does not decode sums nothing)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    return project(value if isinstance(value, dict) else {})


_RUN_VALUES = ", ".join(f"json_extract(d, '$.{f}')" for f in _RUN_FIELDS)
# The record is JSON text inside the row's JSON: a row that holds no record (which the
# runs API never writes) is left out of the index rather than failing the write it rides on.
_RUN_ROW = f"""
  DELETE FROM run_index WHERE key = new.key;
  INSERT INTO run_index (key, created, {", ".join(_RUN_FIELDS)})
  SELECT new.key, new.created, {_RUN_VALUES}
  FROM (SELECT CASE WHEN json_valid(x) AND json_type(x) = 'object' THEN x END AS d
        FROM (SELECT CASE WHEN json_valid(CAST(new.body AS TEXT))
                     THEN json_extract(CAST(new.body AS TEXT), '$.data') END AS x))
  WHERE d IS NOT NULL;
"""

# The same fields for the run records a database held before the triggers.
BACKFILL_RUNS = f"""
INSERT OR REPLACE INTO run_index (key, created, {", ".join(_RUN_FIELDS)})
SELECT key, created, {_RUN_VALUES}
FROM (SELECT key, created, CASE WHEN json_valid(x) AND json_type(x) = 'object' THEN x END AS d
      FROM (SELECT key, created, CASE WHEN json_valid(CAST(body AS TEXT))
                   THEN json_extract(CAST(body AS TEXT), '$.data') END AS x
            FROM rows WHERE tbl = '{RUNS_TABLE}'))
WHERE d IS NOT NULL
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS run_index (key TEXT PRIMARY KEY, created REAL NOT NULL, loop TEXT,
  status TEXT, outcome TEXT, started REAL, updated REAL, checker_rounds INTEGER);
CREATE INDEX IF NOT EXISTS run_index_window ON run_index (created, loop, outcome, status, started,
  updated, checker_rounds, key);
CREATE TRIGGER IF NOT EXISTS run_index_insert AFTER INSERT ON rows
  WHEN new.tbl = '{RUNS_TABLE}' BEGIN {_RUN_ROW} END;
CREATE TRIGGER IF NOT EXISTS run_index_update AFTER UPDATE ON rows
  WHEN new.tbl = '{RUNS_TABLE}' BEGIN {_RUN_ROW} END;
CREATE TRIGGER IF NOT EXISTS run_index_delete AFTER DELETE ON rows
  WHEN old.tbl = '{RUNS_TABLE}' BEGIN DELETE FROM run_index WHERE key = old.key; END;
"""

# Covering: a window's sums read this index alone, never a trace's body.
INDEX = (
    "CREATE INDEX IF NOT EXISTS traces_report ON traces "
    "(ts, loop, run, kind, maker, team, model, cost, tokens_in, tokens_out, wrote)"
)
# The runs that wrote, for doctor: a few of the traces.
WROTE_INDEX = "CREATE INDEX IF NOT EXISTS traces_wrote ON traces (ts, run) WHERE wrote = 1"

# Each UTC day's sums per loop, team, model and role: a month is ~30 rows a loop, not
# ~600; the days a window cuts through are summed from the traces themselves.
DAYS = """
CREATE TABLE IF NOT EXISTS call_days (day INTEGER NOT NULL, loop TEXT NOT NULL, team TEXT NOT NULL,
  model TEXT NOT NULL, maker INTEGER NOT NULL, calls INTEGER NOT NULL, tools INTEGER NOT NULL,
  cost REAL NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, first REAL NOT NULL,
  PRIMARY KEY (day, loop, team, model, maker)) WITHOUT ROWID
"""
ADD_DAYS = (
    "INSERT INTO call_days VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, tools = tools + excluded.tools, "
    "cost = cost + excluded.cost, tokens_in = tokens_in + excluded.tokens_in, "
    "tokens_out = tokens_out + excluded.tokens_out, first = min(first, excluded.first)"
)
BACKFILL_DAYS = f"""
INSERT INTO call_days SELECT CAST(ts / {DAY_S} AS INTEGER), coalesce(loop, ''), team, model,
  maker, count(*), total(kind IS 'tool'), total(cost), total(tokens_in), total(tokens_out), min(ts)
FROM traces GROUP BY 1, 2, 3, 4, 5
"""


def day_rows(traces: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The ``call_days`` increments of rows as :data:`INSERT_TRACE` takes them."""
    days: dict[tuple[Any, ...], list[Any]] = {}
    for ts, loop, _run, kind, _body, maker, team, model, cost, tin, tout, _wrote in traces:
        key = (int(ts // DAY_S), loop or "", team, model, maker)
        row = days.get(key)
        if row is None:
            days[key] = [1, kind == "tool", cost, tin, tout, ts]
        else:
            row[0] += 1
            row[1] += kind == "tool"
            row[2] += cost
            row[3] += tin
            row[4] += tout
            row[5] = min(row[5], ts)
    return [(*k, *v) for k, v in days.items()]


INSERT_TRACE = (
    "INSERT INTO traces (ts, loop, run, kind, body, maker, team, model, cost, tokens_in, "
    "tokens_out, wrote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def current(db: sqlite3.Connection) -> bool:
    """Whether the database has the columns and tables of :data:`VERSION`."""
    return int(db.execute("PRAGMA user_version").fetchone()[0]) >= VERSION


def migrate(db: sqlite3.Connection) -> bool:
    """Bring a database to :data:`VERSION` (once: True when this call did it)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
            db.execute("COMMIT")
            return False  # another process did it while this one waited
        have = {row[1] for row in db.execute("PRAGMA table_info(traces)")}
        for name, kind in zip(COLUMNS, ("INTEGER", "TEXT", "TEXT", "REAL", "INTEGER", "INTEGER", "INTEGER"), strict=True):  # fmt: skip
            if name not in have:
                db.execute(f"ALTER TABLE traces ADD COLUMN {name} {kind}")
        last = 0
        while True:  # the traces written before the columns (none has a projection)
            batch = db.execute(
                "SELECT id, body FROM traces WHERE id > ? AND maker IS NULL ORDER BY id LIMIT ?",
                (last, BACKFILL),
            ).fetchall()
            if not batch:
                break
            db.executemany(
                f"UPDATE traces SET {', '.join(f'{c} = ?' for c in COLUMNS)} WHERE id = ?",
                [(*project_body(body), id_) for id_, body in batch],
            )
            last = batch[-1][0]
        db.execute(INDEX)
        db.execute(WROTE_INDEX)
        for statement in _statements(SCHEMA):
            db.execute(statement)
        db.execute(BACKFILL_RUNS)
        db.execute("DROP TABLE IF EXISTS call_days")  # rebuilt whole: a migration is idempotent
        db.execute(DAYS)
        db.execute(BACKFILL_DAYS)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return True


def _statements(script: str) -> list[str]:
    """The statements of ``script`` (a trigger's body holds semicolons of its own)."""
    out, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
