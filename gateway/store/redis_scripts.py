"""The Lua scripts the Redis store runs, each one atomic step on the server.

A reservation checks every budget that applies and records itself with a
lease in one step, so replicas racing for the last of a budget cannot both
win; a settlement applies its spend, counters and trace in one step, once per
settlement (a bitmap of the settlements applied, one bit each, says whether
this one was), so a settlement replayed from a replica's local journal after
it reached Redis after all counts once; the durable rows' insert-if-absent and
compare-and-set are what approvals and idempotency keys need.
"""

from __future__ import annotations

RESERVE = """
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

# KEYS: the seen-bitmap block, the trace stream, the rate key, the run key, then the
# budgets. ARGV: bit, reservation id ('' for none), cost, tokens, run tokens, trace
# body ('' for none), the bitmap's TTL. Applied once per settlement: the bit says so.
SETTLE = """
local fresh = redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 0
redis.call('EXPIRE', KEYS[1], ARGV[7])
local out = {}
for i = 5, #KEYS do
  local k = KEYS[i]
  if fresh then
    if ARGV[2] ~= '' then
      redis.call('HDEL', k .. ':res', ARGV[2])
      redis.call('ZREM', k .. ':rexp', ARGV[2])
    end
    out[i - 4] = redis.call('INCRBYFLOAT', k .. ':spent', ARGV[3])
  else
    out[i - 4] = redis.call('GET', k .. ':spent') or '0'
  end
end
if fresh then
  if tonumber(ARGV[4]) > 0 then
    redis.call('HINCRBY', KEYS[3], 'tokens', ARGV[4])
    redis.call('EXPIRE', KEYS[3], 180)
  end
  if tonumber(ARGV[5]) > 0 then redis.call('HINCRBY', KEYS[4], 'tokens', ARGV[5]) end
  if ARGV[6] ~= '' then redis.call('XADD', KEYS[2], '*', 'body', ARGV[6]) end
end
return out
"""

# Replace a durable row, optionally only while its "state" equals ARGV[3] and its
# "lease" equals ARGV[5] (when not empty); keeps the
# creation time the row was inserted with so listings stay in insertion order.
ROW_CAS = """
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
ROW_INSERT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""
