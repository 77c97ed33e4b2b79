"""Redis store: for several gateway replicas sharing budgets, rate windows, runs and traces.

Reservations are atomic across replicas: one Lua script checks every budget
that applies (spend + live reservations + this request ≤ limit) and records
the reservation with a lease (8 s). Each replica renews the leases of the
reservations it holds four times a lease; a replica that dies stops
renewing, and the next reservation on the same budget, on any replica, drops
the expired ones, so a dead replica's reservations hold budget for
``lease_s`` seconds at most.

Settlement is another script, one atomic step keyed by the settlement's id
(the trace id): release, add the actual cost, the token counters and the
trace, unless that id was settled before. When Redis does not answer within
``settle_timeout`` the settlement goes to the replica's local journal
(:mod:`gateway.store.spill`) and a background task replays it once Redis is
back; the key makes a replayed settlement count once. Traces go to a Redis
stream whose IDs are millisecond timestamps. Any other call that cannot reach
Redis raises :class:`~gateway.store.errors.StoreUnavailable` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from gateway.store import encode
from gateway.store.base import BudgetKey, Denied, Reservation, RunState, Settlement
from gateway.store.errors import StoreUnavailable, public_url
from gateway.store.projection import RUNS_TABLE
from gateway.store.redis_scripts import RESERVE, ROW_CAS, ROW_INSERT, SETTLE
from gateway.store.report import READ_ALL, PyReports, Reports, run_record
from gateway.store.spill import Spill, entries, orphans, read_all

log = logging.getLogger("fleet.gateway.store")
T = TypeVar("T")

# A reservation's lease (FLEET_GATEWAY_LEASE_S overrides it); its replica renews it
# four times a lease.
LEASE_S = 8.0
LEASE_ENV = "FLEET_GATEWAY_LEASE_S"
# How long a settlement waits for Redis before it goes to the local journal.
SETTLE_TIMEOUT_S = 1.0
# How long Redis remembers which settlements it applied (a replayed one counts once
# within it): one bit per settlement, in blocks of 2**20 per replica.
SETTLED_TTL_S = 2 * 86400
SEEN_BLOCK_BITS = 20


class RedisStore:
    def __init__(
        self,
        url: str,
        prefix: str = "fleetgw",
        *,
        spill_dir: str | Path | None = None,
        lease_s: float | None = None,
        settle_timeout: float = SETTLE_TIMEOUT_S,
        timeout: float = 2.0,
    ):
        """``spill_dir``: where settlements Redis could not take wait (default
        ``$FLEET_GATEWAY_SPILL_DIR``, else ``~/.local/state/fleet-gateway/spill``), one
        folder per store; ``lease_s``: a reservation's lease (default
        ``$FLEET_GATEWAY_LEASE_S``, else 8 s), renewed every quarter of it; ``timeout``:
        how long any other call waits for Redis."""
        self.url = url
        # One try per call, bounded: a down Redis is a 503 now, not after ten retries.
        self.redis = aioredis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=min(timeout, 1.0),
            retry=Retry(NoBackoff(), 0),
        )
        self.prefix = prefix
        self.replica = uuid.uuid4().hex[:16]
        self.lease_s = lease_s or float(os.environ.get(LEASE_ENV) or LEASE_S)
        if not 0.1 <= self.lease_s <= 3600:
            raise ValueError(f"a reservation lease of {self.lease_s:g} s is out of 0.1-3600 s")
        self.renew_s = self.lease_s / 4
        self.settle_timeout = settle_timeout
        self._reserve = self.redis.register_script(RESERVE)
        self._settle = self.redis.register_script(SETTLE)
        self._row_cas = self.redis.register_script(ROW_CAS)
        self._row_insert = self.redis.register_script(ROW_INSERT)
        # Reservations this replica holds: id -> the budgets' Redis keys (renewed on a timer).
        self._live: dict[str, list[str]] = {}
        self._seq = 0
        base = spill_dir or os.environ.get("FLEET_GATEWAY_SPILL_DIR")
        root = Path(base) if base else Path.home() / ".local" / "state" / "fleet-gateway" / "spill"
        where = hashlib.sha256(f"{public_url(url)} {prefix}".encode()).hexdigest()[:16]
        self.spill_dir = root / where
        self._spill: Spill | None = None
        self._background: asyncio.Task[None] | None = None
        self.spilled = 0  # settlements sent to the local journal since start

    def _k(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    @contextlib.contextmanager
    def _reach(self) -> Iterator[None]:
        """Redis down or silent: :class:`StoreUnavailable`, with the driver's error as cause."""
        try:
            yield
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(self.url, f"{exc.__class__.__name__}: {exc}") from exc

    async def healthy(self) -> bool:
        """Redis answers PING within half a second."""
        try:
            async with asyncio.timeout(0.5):
                return bool(await self.redis.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    # ---------------------------------------------------------------- budgets and leases

    async def reserve(self, keys: list[BudgetKey], amount: float) -> Reservation | Denied:
        self._start()
        rid = f"{self.replica}.{uuid.uuid4().hex[:16]}"
        args: list[Any] = [time.time(), amount, rid, self.lease_s, *[k.limit for k in keys]]
        names = [self._k("b", k.key) for k in keys]
        with self._reach():
            index, spent, reserved = await self._reserve(keys=names, args=args)
        if int(index):
            return Denied(keys[int(index) - 1], float(spent), float(reserved))
        self._live[rid] = names
        return Reservation(rid, keys, amount)

    async def release(self, reservation: Reservation) -> None:
        names = self._live.pop(reservation.id, None) or [
            self._k("b", k.key) for k in reservation.keys
        ]
        pipe = self.redis.pipeline(transaction=True)
        for name in names:
            pipe.hdel(name + ":res", reservation.id)
            pipe.zrem(name + ":rexp", reservation.id)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            # Unrenewed, the lease lapses and the next reservation drops it.
            log.warning("redis: a reservation's release failed (%s); its lease lapses", exc)

    async def renew(self) -> None:
        """Extend the lease of every reservation this replica holds."""
        if not self._live:
            return
        expires = time.time() + self.lease_s
        pipe = self.redis.pipeline(transaction=False)
        for rid, names in list(self._live.items()):
            for name in names:
                pipe.zadd(name + ":rexp", {rid: expires}, xx=True)
        await pipe.execute()

    async def spent(self, key: str) -> float:
        with self._reach():
            value = await self.redis.get(self._k("b", key) + ":spent")
        return float(value) if value else 0.0

    # ---------------------------------------------------------------- settlement

    def _entry(self, s: Settlement) -> dict[str, Any]:
        """The settlement as the settle script's arguments (and the local journal's line)."""
        self._seq += 1
        seq = self._seq
        r = s.reservation
        return {
            "replica": self.replica,
            "seq": seq,
            "res": r.id if r is not None else "",
            "budgets": [self._k("b", k.key) for k in r.keys] if r is not None else [],
            "keys": [k.key for k in r.keys] if r is not None else [],
            "cost": repr(encode.usd(s.cost)),
            "rate": self._k("rate", s.loop, s.minute),
            "tokens": encode.count(s.tokens),
            "run": self._k("run", s.loop, s.run) if s.run is not None else self._k("run", "-"),
            "run_tokens": encode.count(s.run_tokens) if s.run is not None else 0,
            "body": encode.dumps(s.trace).decode() if s.trace else "",
        }

    async def _apply(self, e: dict[str, Any]) -> dict[str, float]:
        block = self._k("seen", e["replica"], e["seq"] >> SEEN_BLOCK_BITS)
        bit = e["seq"] & ((1 << SEEN_BLOCK_BITS) - 1)
        values = await self._settle(
            keys=[block, self._k("traces"), e["rate"], e["run"], *e["budgets"]],
            args=[
                bit,
                e["res"],
                e["cost"],
                e["tokens"],
                e["run_tokens"],
                e["body"],
                SETTLED_TTL_S,
            ],
        )
        return {k: float(v) for k, v in zip(e["keys"], values, strict=True)}

    async def settle(self, s: Settlement) -> dict[str, float]:
        """Applied in Redis within ``settle_timeout``, or else fsynced to the local
        journal for the replay task: durable on return either way."""
        self._start()
        entry = self._entry(s)
        if s.reservation is not None:
            self._live.pop(s.reservation.id, None)
        try:
            async with asyncio.timeout(self.settle_timeout):
                return await self._apply(entry)
        except (RedisError, OSError, TimeoutError) as exc:
            await self._to_spill(entry, exc)
            return {}

    async def _to_spill(self, entry: dict[str, Any], exc: BaseException) -> None:
        if self._spill is None:
            self._spill = Spill(self.spill_dir, self.replica)
        await asyncio.to_thread(self._spill.append, entry)
        self.spilled += 1
        if self.spilled == 1 or self.spilled % 1000 == 0:
            log.warning(
                "redis: %s unreachable (%s); %d settlement(s) kept in %s for replay",
                public_url(self.url),
                exc.__class__.__name__,
                self.spilled,
                self._spill.path,
            )

    async def replay(self) -> int:
        """Apply what the local journals hold (this replica's, and those dead replicas
        left); returns how many settlements went in. Stops at the first failure."""
        done = 0
        if self._spill is not None:
            for entry, end in self._spill.pending():
                done += await self._replay_one(entry)
                self._spill.done(end)
        if not self.spill_dir.is_dir():
            return done
        own = self._spill.path if self._spill is not None else None
        for path, fd in orphans(self.spill_dir, own):
            try:
                for entry, _ in entries(read_all(fd)):
                    done += await self._replay_one(entry)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        if done:
            log.info("redis: replayed %d settlement(s) from the local journal", done)
        return done

    async def _replay_one(self, entry: dict[str, Any]) -> int:
        """1 once ``entry`` is in Redis; 0 for an entry Redis refuses (logged, dropped,
        so one bad line cannot hold back the rest). Redis away: the error goes up."""
        try:
            async with asyncio.timeout(self.settle_timeout * 5):
                await self._apply(entry)
        except (ResponseError, KeyError, TypeError, ValueError) as exc:
            log.error("redis: dropped a journal entry Redis refused (%s): %.300r", exc, entry)
            return 0
        return 1

    def _start(self) -> None:
        """The lease and replay task runs from the first call made in an event loop."""
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._tend())

    async def _tend(self) -> None:
        while True:
            for step in (self.replay, self.renew):
                try:
                    await step()
                except (RedisError, OSError, TimeoutError):
                    pass  # Redis is still away: the next pass tries again
                except Exception:  # the task must outlive a bad journal line
                    log.exception("redis: %s failed", step.__name__)
            await asyncio.sleep(self.renew_s)

    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        with self._reach():
            values = await self.redis.hmget(self._k("rate", loop, minute), ["requests", "tokens"])
        return int(values[0] or 0), int(values[1] or 0)

    async def hit(self, loop: str, minute: int) -> int:
        rk = self._k("rate", loop, minute)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(rk, "requests", 1)
        pipe.expire(rk, 180)
        with self._reach():
            count, _ = await pipe.execute()
        return int(count)

    async def run_step(self, loop: str, run: str) -> RunState:
        key = self._k("run", loop, run)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "steps", 1)
        pipe.hget(key, "tokens")
        pipe.expire(key, 7 * 86400)
        with self._reach():
            steps, tokens, _ = await pipe.execute()
        return RunState(int(steps), int(tokens or 0))

    async def mark_alert(self, key: str, threshold: int) -> bool:
        with self._reach():
            done = await self.redis.set(
                self._k("alert", key, threshold), "1", nx=True, ex=40 * 86400
            )
        return bool(done)

    async def write_trace(self, record: dict[str, Any]) -> None:
        """Durable on return, like a settlement (in Redis, or in the local journal)."""
        await self.settle(
            Settlement(None, 0.0, str(record.get("loop") or ""), 0, 0, None, 0, record)
        )

    async def query_traces(
        self,
        since: float = 0.0,
        loop: str | None = None,
        run: str | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]:
        start = f"{int(since * 1000)}-0" if since else "-"
        with self._reach():
            rows = await self.redis.xrange(self._k("traces"), min=start, max="+", count=limit)
        out = []
        for _, fields in rows or []:
            record = orjson.loads((fields or {})[b"body"])
            if (loop and record.get("loop") != loop) or (run and record.get("run") != run):
                continue
            out.append(record)
        return out

    async def read_report(self, since: float, read: Callable[[Reports], T]) -> T:
        """``read`` over the window's decoded records, in one linear pass each."""
        traces = await self.query_traces(since=since, limit=READ_ALL)
        rows = await self.row_list(RUNS_TABLE, limit=READ_ALL, newest_first=True, since=since)
        return read(PyReports(traces, [r for r in map(run_record, rows) if r is not None]))

    # ---------------------------------------------------------------- durable rows

    def _rows_key(self, table: str) -> str:
        return self._k("rows", table)

    def _order_key(self, table: str) -> str:
        return self._k("rows", table) + ":order"

    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        now = time.time()
        body = orjson.dumps({"_created": now, **value})
        with self._reach():
            done = await self._row_insert(
                keys=[self._rows_key(table), self._order_key(table)], args=[key, body, repr(now)]
            )
        return bool(done)

    async def row_get(self, table: str, key: str) -> dict[str, Any] | None:
        with self._reach():
            body = await self.redis.hget(self._rows_key(table), key)
        return _public(orjson.loads(body)) if body else None

    async def row_update(
        self,
        table: str,
        key: str,
        value: dict[str, Any],
        *,
        if_state: str | None = None,
        if_lease: str | None = None,
    ) -> bool:
        with self._reach():
            done = await self._row_cas(
                keys=[self._rows_key(table)],
                args=[
                    key,
                    orjson.dumps(value),
                    "" if if_state is None else if_state,
                    int(if_state is not None),
                    if_lease or "",
                ],
            )
        return bool(done)

    async def row_delete(self, table: str, key: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self._rows_key(table), key)
        pipe.zrem(self._order_key(table), key)
        with self._reach():
            await pipe.execute()

    async def row_list(
        self,
        table: str,
        state: str | None = None,
        limit: int = 500,
        *,
        newest_first: bool = False,
        since: float | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        with self._reach():
            return await self._row_list(table, state, limit, newest_first, since, offset)

    async def _row_list(
        self,
        table: str,
        state: str | None,
        limit: int,
        newest_first: bool,
        since: float | None,
        offset: int,
    ) -> list[dict[str, Any]]:
        if state is None and (newest_first or since is not None or offset):
            # A page of the creation-time index: the work is the page's, not the table's.
            # Rows inserted before the index existed are not in it (only the runs API,
            # whose tables are younger than the index, reads pages).
            low = "-inf" if since is None else repr(since)
            order = self._order_key(table)
            if newest_first:
                keys = await self.redis.zrevrangebyscore(order, "+inf", low, offset, limit)
            else:
                keys = await self.redis.zrangebyscore(order, low, "+inf", offset, limit)
            bodies = (
                await self.redis.hmget(self._rows_key(table), cast(list[str], keys)) if keys else []
            )
            return [_public(orjson.loads(b)) for b in bodies if b is not None]
        rows = [orjson.loads(v) for v in await self.redis.hvals(self._rows_key(table))]
        if state is not None:
            rows = [r for r in rows if r.get("state") == state]
        if since is not None:
            rows = [r for r in rows if r.get("_created", 0.0) >= since]
        rows.sort(key=lambda r: r.get("_created", 0.0), reverse=newest_first)
        return [_public(r) for r in rows[offset : offset + limit]]

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._background
        if self._spill is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(2.0):  # what is left waits for the next start
                    await self.replay()
            self._spill.close()
        await self.redis.aclose()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("_created", None)
    return row
