-- Declare the periodic tasks a worker knows; those of other workers are kept.
-- KEYS[1]: periodic tasks (zset token -> next due); KEYS[2]: their definitions
-- (hash token -> "period|queue|max_retries"); KEYS[3]: when a live worker last
-- declared each (hash); KEYS[4]: the next due date of retired tasks (hash)
-- ARGV: prefix, now, then (task token, period seconds, queue, max retries)...
-- A new task is due now; a changed period takes effect at the sooner of the
-- old due date and one new period from now; an unchanged task keeps its
-- schedule. Tasks nobody declares any more are retired by heartbeat.lua; a
-- retired task declared again keeps the grid it had (its next due date, or
-- the slot missed meanwhile, run once), rather than being due now.
-- Queue names cannot contain '|' (spinach.task.validate_name): the encoding
-- is unambiguous, and the same as earlier versions', which may run beside
-- this one during a rolling deploy.
local now = clock()
for i = 3, #ARGV, 4 do
  local name, period = ARGV[i], ARGV[i + 1]
  local def = period .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3]
  local old = redis.call('HGET', KEYS[2], name)
  local next_at = tonumber(redis.call('ZSCORE', KEYS[1], name))
  local retired_at = tonumber(redis.call('HGET', KEYS[4], name))
  if (not old or not next_at) and retired_at then
    redis.call('ZADD', KEYS[1], num(math.min(retired_at, now + tonumber(period))), name)
    redis.call('HDEL', KEYS[4], name)
  elseif not old or not next_at then
    redis.call('ZADD', KEYS[1], num(now), name)
  elseif old ~= def then
    local old_period = tonumber(string.match(old, '^([^|]+)|'))
    local candidate = now + tonumber(period)
    if old_period ~= tonumber(period) and candidate < next_at then
      redis.call('ZADD', KEYS[1], num(candidate), name)
    end
  end
  redis.call('HSET', KEYS[2], name, def)
  redis.call('HSET', KEYS[3], name, num(now))
end
note('f')
publish()
return 1
