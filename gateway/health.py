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

The checks read the definitions as :mod:`fleet.spec` models, and so pydantic, which this
process does not load: this module reads the body and the store's sums, and the checks run
in a child process, :mod:`gateway.healthcheck`, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from gateway.asgi import Receive, Scope, Send, read_bounded, send_json
from gateway.errors import BadRequestError, ForbiddenError, TooLargeError, UnavailableError
from gateway.runs import api as runs
from gateway.runs.validate import MethodError
from gateway.store import Store
from gateway.store.errors import StoreUnavailable
from gateway.store.report import Reports
from gateway.store.sqlite import SqliteStore

log = logging.getLogger("fleet.gateway")

PATH = "/v1/fleet/health"
MAX_BODY = 16 * 1024 * 1024
"""A fleet's definitions: about 3 KB a loop, so thousands of loops fit."""
DEFAULT_DAYS = 14
"""Records read: the spend check compares two weeks (as ``fleetctl doctor --days``)."""
CHECK_TIMEOUT = 120.0
"""Seconds the checks of one request may take in their child process."""
WEEK = 7 * 86400.0
"""As :data:`fleet.doctor.WEEK` (which this process does not import)."""
_ONE_CHECK: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
"""One child at a time per event loop, whatever the number of fleets asking."""


def _bad(code: str, message: str, param: str | None = None) -> BadRequestError:
    return BadRequestError(code, message, extra={"param": param} if param else None)


def _request(data: Any) -> int:
    """The days of a request body, its shape checked; the specs themselves are read by the
    checks' child."""
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
    return days


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


def read_sqlite_sums(path: str, start: float, now: float) -> Sums:
    """The sums of a SQLite store, read in the calling (worker) thread over a read-only
    connection of its own, so the gateway's event loop never waits for them."""

    async def read() -> Sums:
        store = ReadOnlySqlite(path)
        try:
            return await read_sums(store, start, now)
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"sqlite:{path}", f"{exc.__class__.__name__}: {exc}") from exc


def encode_sums(sums: Sums) -> bytes:
    """The sums as JSON, for the checks' child (lists for the tuples and the set)."""
    heads, spend, wrote = sums
    return orjson.dumps([heads, spend, sorted(wrote)])


async def run_checks(body: bytes, meta: dict[str, Any], sums: bytes) -> dict[str, Any]:
    """:func:`gateway.healthcheck.answer` of a request, computed in a child process: the
    body as the operator sent it (not encoded again), the window (``meta``) and the sums,
    after a line with the first two's lengths."""
    head = orjson.dumps(meta)
    payload = b"%d %d\n" % (len(body), len(head)) + body + head + sums
    loop = asyncio.get_running_loop()
    async with _ONE_CHECK.setdefault(loop, asyncio.Semaphore(1)):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.healthcheck",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(child.communicate(payload), CHECK_TIMEOUT)
        except TimeoutError:
            child.kill()
            await child.wait()
            raise UnavailableError(
                "health_check_timeout", f"the checks took over {CHECK_TIMEOUT:.0f} s"
            ) from None
    if child.returncode != 0:
        log.error(
            "health: the checks exited %s: %s",
            child.returncode,
            err.decode(errors="replace")[-2000:],
        )
        raise UnavailableError("health_check_failed", "the checks failed; see the gateway's log")
    answer: dict[str, Any] = orjson.loads(out)
    return answer


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
    days = _request(data)
    now = time.time()
    start = now - days * 86400
    store = gateway.store
    path = getattr(store, "path", ":memory:") if isinstance(store, SqliteStore) else ":memory:"
    if path != ":memory:":
        # SQLite is synchronous: read and encoded off the event loop, so that a model call is
        # never held up by a large store's health check (the checks run in their own process).
        sums = await asyncio.to_thread(lambda: encode_sums(read_sqlite_sums(path, start, now)))
    else:  # Redis (network reads, awaited) or a store in memory
        sums = await asyncio.to_thread(encode_sums, await read_sums(store, start, now))
    answer = await run_checks(raw, {"days": days, "now": now, "start": start}, sums)
    if "error" in answer:
        error = answer["error"]
        raise _bad(error["code"], error["message"], error.get("param"))
    await send_json(
        send,
        200,
        {
            "fleet": answer["fleet"],
            "now": now,
            "days": days,
            "errors": answer["errors"],
            "loops": answer["loops"],
        },
    )
