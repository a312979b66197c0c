"""The Lua scripts `RedisStore` runs server-side: one script call per operation.

Each counter `K` (under the store's key prefix `P`) is five Redis keys:
`P m:K` hash (lim, win, pend, label, total = sum of live entries),
`P l:K` sorted set (the sliding log: reservation id scored by timestamp),
`P a:K` hash (reservation id -> amount), `P p:K` sorted set (unsettled
reservation ids scored by expiry), `P d:K` set (unsettled reservations that
expired and no longer count). `P r:<id>` is the set of counter keys a
reservation touched. The arithmetic mirrors `MemoryStore` exactly.

Every key a script touches is passed in KEYS (`P r:<id>` first when the script
needs it, then the five keys of each counter, in the order the counters' names
appear in ARGV), as Redis Cluster and redis-py's script helpers expect; the
scripts never build a key name. A settle or release for a reservation whose
counters the caller did not declare answers -1 without touching anything, and
the caller asks for them (`SMEMBERS P r:<id>`) and tries again.

Numbers cross into Redis commands as strings formatted with %.17g: Redis would
otherwise print a Lua number with 14 significant digits and lose precision.
"""

from __future__ import annotations

from cascadepolicy.state.base import RELATIVE_TOLERANCE

# Real-time lifetimes get this much slack: the lazy purge with the caller's
# `now` is the source of truth, key expiry only collects garbage.
_COMMON = """
local TOL = __TOLERANCE__
local SLACK_MS = 1000

local function fmt(x) return string.format('%.17g', x) end

local function fits(used, amount, limit)
  return used + amount <= limit + TOL * math.max(1.0, math.abs(limit))
end

-- counter name -> its five keys, from KEYS: declare(k, i) when k's keys start at KEYS[i]
local NAMES = {}
local function declare(k, i)
  NAMES[k] = {KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3], KEYS[i + 4]}
end

local function names(k)
  local n = NAMES[k]
  return n[1], n[2], n[3], n[4], n[5]
end

-- Declare n counters named by ARGV[first .. first + n - 1], their keys after KEYS[1].
local function declare_all(first, n)
  for i = 1, n do declare(ARGV[first + i - 1], 2 + (i - 1) * 5) end
end

-- Whether every counter the reservation touched was declared.
local function all_declared(rkey)
  for _, k in ipairs(redis.call('SMEMBERS', rkey)) do
    if not NAMES[k] then return false end
  end
  return true
end

local function forget(k)
  local m, l, a, p, d = names(k)
  redis.call('DEL', m, l, a, p, d)
end

-- Callers' clocks only move forward, so the latest charge always knows the
-- longest life: now + window, or the time left until period_end.
local function extend_counter(k, life)
  if not life then return end
  local ms = math.ceil(life * 1000) + SLACK_MS
  local m, l, a, p, d = names(k)
  redis.call('PEXPIRE', m, ms); redis.call('PEXPIRE', l, ms)
  redis.call('PEXPIRE', a, ms); redis.call('PEXPIRE', p, ms)
  if redis.call('EXISTS', d) == 1 then redis.call('PEXPIRE', d, ms) end
end

-- Bring counter k up to now. Returns total, win, pend; nil when it holds nothing.
local function purge(k, now)
  local m, l, a, p, d = names(k)
  local meta = redis.call('HMGET', m, 'total', 'win', 'pend')
  if not meta[1] then return nil end
  local total, win, pend = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3])
  if not win and pend and now >= pend then forget(k); return nil end
  local changed = false
  local expired = redis.call('ZRANGEBYSCORE', p, '-inf', fmt(now))
  if #expired > 0 then
    for _, id in ipairs(expired) do
      total = total - tonumber(redis.call('HGET', a, id))
      redis.call('SADD', d, id)
    end
    redis.call('ZREMRANGEBYSCORE', p, '-inf', fmt(now))
    local ms = redis.call('PTTL', l)
    if ms > 0 then redis.call('PEXPIRE', d, ms) end
    changed = true
  end
  if win then
    local cutoff = fmt(now - win)
    local old = redis.call('ZRANGEBYSCORE', l, '-inf', cutoff)
    if #old > 0 then
      for _, id in ipairs(old) do
        if redis.call('SREM', d, id) == 0 then
          total = total - tonumber(redis.call('HGET', a, id))
        end
        redis.call('HDEL', a, id)
        redis.call('ZREM', p, id)
      end
      redis.call('ZREMRANGEBYSCORE', l, '-inf', cutoff)
      if redis.call('EXISTS', l) == 0 then forget(k); return nil end
      changed = true
    end
  end
  if changed then redis.call('HSET', m, 'total', fmt(total)) end
  return total, win, pend
end

-- Live entries of counter k, oldest first, as {ts, amount, id}; expired ones left out.
local function live_log(k)
  local m, l, a, p, d = names(k)
  local log = redis.call('ZRANGE', l, 0, -1, 'WITHSCORES')
  local live = {}
  for i = 1, #log, 2 do
    if redis.call('SISMEMBER', d, log[i]) == 0 then
      live[#live + 1] = {tonumber(log[i + 1]), tonumber(redis.call('HGET', a, log[i])), log[i]}
    end
  end
  return live
end
""".replace("__TOLERANCE__", repr(RELATIVE_TOLERANCE))

# KEYS: P r:<rid>, then the five keys of each charge's counter
# ARGV: rid, now, ttl, n, then n times: key, limit, amount, window|'', period_end|'', label
# Returns {refused index (0 = admitted), retry_after|'', used_1, ..., used_n}
RESERVE = (
    _COMMON
    + """
local rid, now, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local charges, used, held = {}, {}, {}
for i = 1, n do
  local b = 4 + (i - 1) * 6
  local c = {key = ARGV[b + 1], limit = tonumber(ARGV[b + 2]), amount = tonumber(ARGV[b + 3]),
             win = tonumber(ARGV[b + 4]), pend = tonumber(ARGV[b + 5]), label = ARGV[b + 6]}
  charges[i] = c
  declare(c.key, 2 + (i - 1) * 5)
  local total = purge(c.key, now)
  used[i], held[i] = total or 0, total ~= nil
end

local function first_refusal()
  for i = 1, n do
    if not fits(used[i], charges[i].amount, charges[i].limit) then return i end
  end
  return 0
end

local refused = first_refusal()
if refused > 0 then
  -- the running totals may have drifted by a few ulps: decide on an exact recount
  for i = 1, n do
    if held[i] then
      local total = 0
      for _, e in ipairs(live_log(charges[i].key)) do total = total + e[2] end
      used[i] = total
      redis.call('HSET', (names(charges[i].key)), 'total', fmt(total))
    end
  end
  refused = first_refusal()
end

local out = {refused, ''}
for i = 1, n do out[i + 2] = fmt(used[i]) end

if refused > 0 then
  local c = charges[refused]
  if not fits(0, c.amount, c.limit) then return out end
  if not c.win then
    if c.pend then out[2] = fmt(math.max(0, c.pend - now)) end
    return out
  end
  local remaining = used[refused]
  out[2] = fmt(c.win)
  for _, e in ipairs(live_log(c.key)) do
    remaining = remaining - e[2]
    if fits(remaining, c.amount, c.limit) then
      out[2] = fmt(math.max(0, e[1] + c.win - now))
      break
    end
  end
  return out
end

local expires = fmt(now + ttl)
local rkey = KEYS[1]
local rlife = ttl
for i = 1, n do
  local c = charges[i]
  local m, l, a, p, d = names(c.key)
  local fields = {'lim', fmt(c.limit), 'label', c.label, 'total', fmt(used[i] + c.amount)}
  if c.win then fields[#fields + 1] = 'win'; fields[#fields + 1] = fmt(c.win) end
  if c.pend then fields[#fields + 1] = 'pend'; fields[#fields + 1] = fmt(c.pend) end
  redis.call('HSET', m, unpack(fields))
  if not c.win then redis.call('HDEL', m, 'win') end
  if not c.pend then redis.call('HDEL', m, 'pend') end
  redis.call('ZADD', l, fmt(now), rid)
  redis.call('HSET', a, rid, fmt(c.amount))
  redis.call('ZADD', p, expires, rid)
  redis.call('SADD', rkey, c.key)
  local life = c.win or (c.pend and c.pend - now)
  extend_counter(c.key, life)
  if life and life > rlife then rlife = life end
end
redis.call('PEXPIRE', rkey, math.ceil(rlife * 1000) + SLACK_MS)
return out
"""
)

# KEYS: P r:<rid>, then the five keys of each declared counter
# ARGV: rid, now, d, d counter names (every counter of the reservation and of `actual`),
#       then n, then n times: key, actual amount
# Returns -1 when the reservation touched a counter not declared, else 0 or 1.
SETTLE = (
    _COMMON
    + """
local rid, now, nd = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rkey = KEYS[1]
declare_all(4, nd)
if not all_declared(rkey) then return -1 end
local base = 4 + nd
local n = tonumber(ARGV[base])
local actual = {}
for i = 1, n do actual[ARGV[base + 2 * i - 1]] = tonumber(ARGV[base + 2 * i]) end
-- A reservation is known while one of its entries is still held somewhere.
local held = {}
for _, k in ipairs(redis.call('SMEMBERS', rkey)) do
  local total = purge(k, now)
  local _, _, a = names(k)
  if total and redis.call('HEXISTS', a, rid) == 1 then held[#held + 1] = {k, total} end
end

if #held == 0 then
  -- unknown (or long forgotten) reservation: the money was spent, record it now
  local rlife = 0
  for i = 1, n do
    local k, amount = ARGV[base + 2 * i - 1], tonumber(ARGV[base + 2 * i])
    local total, win, pend = purge(k, now)
    if total then
      local m, l, a = names(k)
      redis.call('ZADD', l, fmt(now), rid)
      redis.call('HSET', a, rid, fmt(amount))
      redis.call('HSET', m, 'total', fmt(total + amount))
      redis.call('SADD', rkey, k)
      local life = win or (pend and pend - now)
      extend_counter(k, life)
      if life and life > rlife then rlife = life end
    end
  end
  if rlife > 0 then redis.call('PEXPIRE', rkey, math.ceil(rlife * 1000) + SLACK_MS) end
  return 0
end

for _, h in ipairs(held) do
  local k, total = h[1], h[2]
  local m, l, a, p, d = names(k)
  local old = tonumber(redis.call('HGET', a, rid))
  local amount = actual[k] or old
  if redis.call('SREM', d, rid) == 0 then
    total = total + amount - old
  else
    total = total + amount
  end
  redis.call('ZREM', p, rid)
  redis.call('HSET', a, rid, fmt(amount))
  redis.call('HSET', m, 'total', fmt(total))
end
return 1
"""
)

# KEYS: P r:<rid>, then the five keys of each declared counter
# ARGV: rid, d, d counter names. Returns -1 when the reservation touched a counter not declared.
RELEASE = (
    _COMMON
    + """
local rid, nd = ARGV[1], tonumber(ARGV[2])
local rkey = KEYS[1]
declare_all(3, nd)
if not all_declared(rkey) then return -1 end
for _, k in ipairs(redis.call('SMEMBERS', rkey)) do
  local m, l, a, p, d = names(k)
  local pending = redis.call('ZSCORE', p, rid)
  if pending or redis.call('SISMEMBER', d, rid) == 1 then
    if pending then
      local total = tonumber(redis.call('HGET', m, 'total')) - tonumber(redis.call('HGET', a, rid))
      redis.call('HSET', m, 'total', fmt(total))
    end
    redis.call('ZREM', p, rid); redis.call('SREM', d, rid)
    redis.call('ZREM', l, rid); redis.call('HDEL', a, rid)
    redis.call('SREM', rkey, k)
    if redis.call('EXISTS', l) == 0 then forget(k) end
  end
end
return 0
"""
)

# KEYS: the five keys of the counter. ARGV: now, key. Returns false, or
# {settled, reserved, limit, window|'', period_end|'', label, oldest live ts|''}
USAGE = (
    _COMMON
    + """
local now, k = tonumber(ARGV[1]), ARGV[2]
declare(k, 1)
local total, win, pend = purge(k, now)
if not total then return false end
local m, l, a, p, d = names(k)
local meta = redis.call('HMGET', m, 'lim', 'label')
local settled, reserved, oldest = 0, 0, nil
for _, e in ipairs(live_log(k)) do
  oldest = oldest or e[1]
  if redis.call('ZSCORE', p, e[3]) then reserved = reserved + e[2] else settled = settled + e[2] end
end
local function opt(x) if x then return fmt(x) end return '' end
return {fmt(settled), fmt(reserved), meta[1], opt(win), opt(pend), meta[2], opt(oldest)}
"""
)
