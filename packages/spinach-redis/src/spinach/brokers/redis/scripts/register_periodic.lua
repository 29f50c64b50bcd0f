-- Make the given tasks the periodic tasks of the namespace.
-- KEYS[1]: periodic tasks (zset name -> next due); KEYS[2]: their definitions (hash)
-- ARGV: prefix, now, then (task token, period seconds, queue, max retries)...
-- A new task is due now; a changed period takes effect at the sooner of the
-- old due date and one new period from now; an unchanged task keeps its
-- schedule; tasks not given are removed.
local now = tonumber(ARGV[2])
local wanted = {}
for i = 3, #ARGV, 4 do
  local name, period = ARGV[i], ARGV[i + 1]
  local def = period .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3]
  wanted[name] = true
  local old = redis.call('HGET', KEYS[2], name)
  local next_at = redis.call('ZSCORE', KEYS[1], name)
  if not old or not next_at then
    redis.call('ZADD', KEYS[1], ARGV[2], name)
  elseif old ~= def then
    local old_period = tonumber(string.match(old, '^([^|]+)|'))
    local candidate = now + tonumber(period)
    if old_period ~= tonumber(period) and candidate < tonumber(next_at) then
      redis.call('ZADD', KEYS[1], num(candidate), name)
    end
  end
  redis.call('HSET', KEYS[2], name, def)
end
for _, name in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not wanted[name] then
    redis.call('HDEL', KEYS[2], name)
    redis.call('ZREM', KEYS[1], name)
  end
end
note('f')
publish()
return 1
