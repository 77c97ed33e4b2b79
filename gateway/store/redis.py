"""Redis store: for several gateway replicas sharing budgets, rate windows, runs and traces.

Reservations are atomic across replicas: one Lua script checks every budget
that applies (spend + live reservations + this request ≤ limit) and records
the reservation, with an expiry so a replica that dies mid-request cannot hold
budget forever. Settlement is another script: release, add the actual cost.
Traces go to a Redis stream whose IDs are millisecond timestamps.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from gateway.store.base import BudgetKey, Denied, Reservation, RunState, Settlement

RESERVATION_TTL_S = 600

_RESERVE = """
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local id = ARGV[3]
local expires = now + tonumber(ARGV[4])
local n = #KEYS
for i = 1, n do
  local k = KEYS[i]
  local limit = tonumber(ARGV[4 + i])
  local expired = redis.call('ZRANGEBYSCORE', k .. ':rexp', '-inf', now)
  for _, rid in ipairs(expired) do
    redis.call('HDEL', k .. ':res', rid)
    redis.call('ZREM', k .. ':rexp', rid)
  end
  local reserved = 0
  for _, v in ipairs(redis.call('HVALS', k .. ':res')) do reserved = reserved + tonumber(v) end
  local spent = tonumber(redis.call('GET', k .. ':spent') or '0')
  if spent + reserved + amount > limit + 1e-12 then
    return {i, tostring(spent), tostring(reserved)}
  end
end
for i = 1, n do
  local k = KEYS[i]
  redis.call('HSET', k .. ':res', id, ARGV[2])
  redis.call('ZADD', k .. ':rexp', expires, id)
end
return {0, '0', '0'}
"""

_SETTLE = """
local id = ARGV[1]
local cost = ARGV[2]
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  redis.call('HDEL', k .. ':res', id)
  redis.call('ZREM', k .. ':rexp', id)
  out[i] = redis.call('INCRBYFLOAT', k .. ':spent', cost)
end
return out
"""

# Replace a durable row, optionally only while its "state" equals ARGV[3] and its
# "lease" equals ARGV[5] (when not empty); keeps the
# creation time the row was inserted with so listings stay in insertion order.
_ROW_CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local old = cjson.decode(cur)
if ARGV[4] == '1' and old['state'] ~= ARGV[3] then return 0 end
if ARGV[5] ~= '' and old['lease'] ~= ARGV[5] then return 0 end
local new = cjson.decode(ARGV[2])
new['_created'] = old['_created']
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(new))
return 1
"""

# Insert a durable row unless its key exists, and index it by creation time in the
# table's sorted set (what newest-first pages and ``since`` read).
_ROW_INSERT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


class RedisStore:
    def __init__(self, url: str, prefix: str = "fleetgw"):
        self.redis = aioredis.from_url(url)
        self.prefix = prefix
        self._reserve = self.redis.register_script(_RESERVE)
        self._settle = self.redis.register_script(_SETTLE)
        self._row_cas = self.redis.register_script(_ROW_CAS)
        self._row_insert = self.redis.register_script(_ROW_INSERT)

    def _k(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    async def reserve(self, keys: list[BudgetKey], amount: float) -> Reservation | Denied:
        rid = uuid.uuid4().hex
        args: list[Any] = [time.time(), amount, rid, RESERVATION_TTL_S, *[k.limit for k in keys]]
        index, spent, reserved = await self._reserve(
            keys=[self._k("b", k.key) for k in keys], args=args
        )
        if int(index):
            return Denied(keys[int(index) - 1], float(spent), float(reserved))
        return Reservation(rid, keys, amount)

    async def release(self, reservation: Reservation) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for k in reservation.keys:
            pipe.hdel(self._k("b", k.key) + ":res", reservation.id)
            pipe.zrem(self._k("b", k.key) + ":rexp", reservation.id)
        await pipe.execute()

    async def spent(self, key: str) -> float:
        value = await self.redis.get(self._k("b", key) + ":spent")
        return float(value) if value else 0.0

    async def settle(self, s: Settlement) -> dict[str, float]:
        out: dict[str, float] = {}
        if s.reservation is not None:
            keys = [self._k("b", k.key) for k in s.reservation.keys]
            values = await self._settle(keys=keys, args=[s.reservation.id, repr(float(s.cost))])
            out = {k.key: float(v) for k, v in zip(s.reservation.keys, values, strict=True)}
        pipe = self.redis.pipeline(transaction=True)
        if s.tokens:
            rk = self._k("rate", s.loop, s.minute)
            pipe.hincrby(rk, "tokens", s.tokens)
            pipe.expire(rk, 180)
        if s.run is not None and s.run_tokens:
            pipe.hincrby(self._k("run", s.loop, s.run), "tokens", s.run_tokens)
        if s.trace:
            pipe.xadd(self._k("traces"), {"body": orjson.dumps(s.trace)})
        await pipe.execute()
        return out

    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        values = await self.redis.hmget(self._k("rate", loop, minute), ["requests", "tokens"])
        return int(values[0] or 0), int(values[1] or 0)

    async def hit(self, loop: str, minute: int) -> int:
        rk = self._k("rate", loop, minute)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(rk, "requests", 1)
        pipe.expire(rk, 180)
        count, _ = await pipe.execute()
        return int(count)

    async def run_step(self, loop: str, run: str) -> RunState:
        key = self._k("run", loop, run)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "steps", 1)
        pipe.hget(key, "tokens")
        pipe.expire(key, 7 * 86400)
        steps, tokens, _ = await pipe.execute()
        return RunState(int(steps), int(tokens or 0))

    async def mark_alert(self, key: str, threshold: int) -> bool:
        return bool(
            await self.redis.set(self._k("alert", key, threshold), "1", nx=True, ex=40 * 86400)
        )

    async def write_trace(self, record: dict[str, Any]) -> None:
        await self.redis.xadd(self._k("traces"), {"body": orjson.dumps(record)})

    async def query_traces(
        self,
        since: float = 0.0,
        loop: str | None = None,
        run: str | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]:
        start = f"{int(since * 1000)}-0" if since else "-"
        rows = await self.redis.xrange(self._k("traces"), min=start, max="+", count=limit)
        out = []
        for _, fields in rows or []:
            record = orjson.loads((fields or {})[b"body"])
            if (loop and record.get("loop") != loop) or (run and record.get("run") != run):
                continue
            out.append(record)
        return out

    # ---------------------------------------------------------------- durable rows

    def _rows_key(self, table: str) -> str:
        return self._k("rows", table)

    def _order_key(self, table: str) -> str:
        return self._k("rows", table) + ":order"

    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        now = time.time()
        body = orjson.dumps({"_created": now, **value})
        done = await self._row_insert(
            keys=[self._rows_key(table), self._order_key(table)], args=[key, body, repr(now)]
        )
        return bool(done)

    async def row_get(self, table: str, key: str) -> dict[str, Any] | None:
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
        await self.redis.aclose()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("_created", None)
    return row
