"""The Lua scripts that apply a call's checks in Redis, each atomically (Redis runs one
script at a time). They mirror `memory.py`; one test suite runs against both.

Storage per check, under the configured prefix (`name` is `Check.storage`):
- rpm:    `name`            sorted set, member = reservation id, score = admission time (ms)
- tpm:    `name`            sorted set as for rpm; `name:v` hash rid -> tokens, `#` -> total
- conc:   `name`            sorted set, score = the lease's expiry (ms)
- budget: `name`            hash `spent`, `reserved`, rid -> held nanos (`s` once settled);
          `name:r`          sorted set, score = the hold's expiry (ms)

Time is the Redis server's (TIME) unless ARGV[1] carries one: one clock for every replica,
so clock skew between replicas cannot stretch or shrink a window.
"""

from __future__ import annotations

_COMMON = r"""
local function clock_ms()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Amounts held in hash `h` under the members of sorted set `z`, summed in batches (Lua's
-- unpack has a stack limit). `members` is a list of members.
local function amounts(h, members)
  local sum = 0
  for i = 1, #members, 500 do
    local vals = redis.call('HMGET', h, unpack(members, i, math.min(i + 499, #members)))
    for _, v in ipairs(vals) do sum = sum + (tonumber(v) or 0) end
  end
  return sum
end

-- Drops the members of `z` scored <= `horizon`, their amounts in `h`, and those amounts from
-- `h`'s total field `total`.
local function drop(z, h, horizon, total)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', horizon)
  if #gone == 0 then return end
  local sum = amounts(h, gone)
  for i = 1, #gone, 500 do
    redis.call('HDEL', h, unpack(gone, i, math.min(i + 499, #gone)))
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', horizon)
  if sum ~= 0 then redis.call('HINCRBY', h, total, -sum) end
end

local function num(v) return tonumber(v) or 0 end
"""

# KEYS: each check's keys in order (rpm 1, tpm 2, conc 1, budget 2).
# ARGV: now_ms or '', rid, lease_ms, window_ms, hint_ms, then per check: kind, limit, amount,
#       reset_ms (budgets: until the period ends; else 0), keep_ms (budgets: key lifetime).
# Returns {1} when every amount was taken (or had been, under this rid), else
# {0, index of the check that frees last (1-based), ms until it frees}.
ADMIT = (
    _COMMON
    + r"""
local now = clock_ms()
local rid, lease = ARGV[2], tonumber(ARGV[3])
local window, hint = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = (#ARGV - 5) / 5

local checks, k = {}, 1
for i = 1, n do
  local a = 5 + (i - 1) * 5
  local c = {kind = ARGV[a + 1], limit = tonumber(ARGV[a + 2]), amount = tonumber(ARGV[a + 3]),
             reset = tonumber(ARGV[a + 4]), keep = tonumber(ARGV[a + 5]), k1 = KEYS[k]}
  if c.kind == 'tpm' or c.kind == 'budget' then c.k2 = KEYS[k + 1]; k = k + 2 else k = k + 1 end
  checks[i] = c
end

-- A retry of an admission that was applied finds its rid already there.
local first = checks[1]
local marker = first.kind == 'budget' and first.k2 or first.k1
if redis.call('ZSCORE', marker, rid) then return {1} end

local function oldest_score(z, index)
  local e = redis.call('ZRANGE', z, index, index, 'WITHSCORES')
  return tonumber(e[2])
end

-- Seconds (ms) until `need` more fits in a weighted window that holds `used`.
local function tokens_free_in(z, h, used, need, limit)
  local excess = used + need - limit
  local start = 0
  while true do
    local e = redis.call('ZRANGE', z, start, start + 199, 'WITHSCORES')
    if #e == 0 then return window end
    local members = {}
    for j = 1, #e, 2 do members[#members + 1] = e[j] end
    local vals = redis.call('HMGET', h, unpack(members))
    for j = 1, #members do
      excess = excess - num(vals[j])
      if excess <= 0 then return tonumber(e[2 * j]) + window - now end
    end
    start = start + 200
  end
end

-- nil when the check fits, else ms until it may.
local function wait(c)
  if c.kind == 'rpm' then
    redis.call('ZREMRANGEBYSCORE', c.k1, '-inf', now - window)
    local count = redis.call('ZCARD', c.k1)
    if count + c.amount <= c.limit then return nil end
    return oldest_score(c.k1, count + c.amount - c.limit - 1) + window - now
  elseif c.kind == 'tpm' then
    drop(c.k1, c.k2, now - window, '#')
    local used = num(redis.call('HGET', c.k2, '#'))
    if used + c.amount <= c.limit then return nil end
    return tokens_free_in(c.k1, c.k2, used, c.amount, c.limit)
  elseif c.kind == 'conc' then
    redis.call('ZREMRANGEBYSCORE', c.k1, '-inf', now)
    local count = redis.call('ZCARD', c.k1)
    if count + 1 <= c.limit then return nil end
    return math.min(hint, oldest_score(c.k1, 0) - now)
  else
    drop(c.k2, c.k1, now, 'reserved')
    local totals = redis.call('HMGET', c.k1, 'spent', 'reserved')
    local spent, reserved = num(totals[1]), num(totals[2])
    if spent + reserved + c.amount <= c.limit then return nil end
    if spent + c.amount > c.limit then return c.reset end
    return hint
  end
end

local worst, worst_wait = nil, -1
for i = 1, n do
  local w = wait(checks[i])
  if w ~= nil then
    w = math.max(0, w)
    if w > worst_wait then worst, worst_wait = i, w end
  end
end
if worst then return {0, worst, worst_wait} end

for i = 1, n do
  local c = checks[i]
  if c.kind == 'rpm' then
    redis.call('ZADD', c.k1, now, rid)
    redis.call('PEXPIRE', c.k1, window)
  elseif c.kind == 'tpm' then
    redis.call('ZADD', c.k1, now, rid)
    redis.call('HSET', c.k2, rid, c.amount)
    redis.call('HINCRBY', c.k2, '#', c.amount)
    redis.call('PEXPIRE', c.k1, window)
    redis.call('PEXPIRE', c.k2, window)
  elseif c.kind == 'conc' then
    redis.call('ZADD', c.k1, now + lease, rid)
    if redis.call('PTTL', c.k1) < lease then redis.call('PEXPIRE', c.k1, lease) end
  else
    redis.call('ZADD', c.k2, now + lease, rid)
    redis.call('HSET', c.k1, rid, c.amount)
    redis.call('HINCRBY', c.k1, 'reserved', c.amount)
    redis.call('PEXPIRE', c.k1, c.keep)
    redis.call('PEXPIRE', c.k2, c.keep)
  end
end
return {1}
"""
)

# KEYS: each settlement's keys (as for ADMIT).
# ARGV: now_ms or '', rid, window_ms, settled_ms, then per settlement: kind, amount, keep_ms.
# Idempotent: tokens are set (not added); a budget hold is marked settled (`s`) and kept for
# settled_ms so that a repeated settlement finds it and adds nothing.
SETTLE = (
    _COMMON
    + r"""
local now = clock_ms()
local rid, window, settled = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local k = 1
for a = 5, #ARGV, 3 do
  local kind, amount, keep = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if kind == 'tpm' then
    local z, h = KEYS[k], KEYS[k + 1]
    k = k + 2
    drop(z, h, now - window, '#')
    local old = redis.call('HGET', h, rid)
    if old then
      redis.call('HSET', h, rid, amount)
      redis.call('HINCRBY', h, '#', amount - tonumber(old))
    elseif amount > 0 then
      -- The estimate left the window before the call ended: what it consumed counts now.
      redis.call('ZADD', z, now, rid)
      redis.call('HSET', h, rid, amount)
      redis.call('HINCRBY', h, '#', amount)
      redis.call('PEXPIRE', z, window)
      redis.call('PEXPIRE', h, window)
    end
  elseif kind == 'conc' then
    redis.call('ZREM', KEYS[k], rid)
    k = k + 1
  elseif kind == 'budget' then
    local h, z = KEYS[k], KEYS[k + 1]
    k = k + 2
    local held = redis.call('HGET', h, rid)
    if held ~= 's' then
      if held then redis.call('HINCRBY', h, 'reserved', -tonumber(held)) end
      redis.call('HSET', h, rid, 's')
      redis.call('ZADD', z, now + settled, rid)
      if amount ~= 0 then redis.call('HINCRBY', h, 'spent', amount) end
      redis.call('PEXPIRE', h, keep)
      redis.call('PEXPIRE', z, keep)
    end
  else
    k = k + 1
  end
end
return 1
"""
)

# KEYS: each check's keys. ARGV: now_ms or '', window_ms, then per check: kind.
# Returns {used, reserved} per check, flattened; writes nothing.
READ = (
    _COMMON
    + r"""
local now = clock_ms()
local window = tonumber(ARGV[2])
local out, k = {}, 1
for a = 3, #ARGV do
  local kind = ARGV[a]
  local used, reserved = 0, 0
  if kind == 'rpm' then
    used = redis.call('ZCOUNT', KEYS[k], '(' .. (now - window), '+inf')
    k = k + 1
  elseif kind == 'tpm' then
    used = amounts(KEYS[k + 1], redis.call('ZRANGEBYSCORE', KEYS[k], '(' .. (now - window), '+inf'))
    k = k + 2
  elseif kind == 'conc' then
    used = redis.call('ZCOUNT', KEYS[k], '(' .. now, '+inf')
    k = k + 1
  else
    used = num(redis.call('HGET', KEYS[k], 'spent'))
    reserved = amounts(KEYS[k], redis.call('ZRANGEBYSCORE', KEYS[k + 1], '(' .. now, '+inf'))
    k = k + 2
  end
  out[#out + 1] = used
  out[#out + 1] = reserved
end
return out
"""
)
