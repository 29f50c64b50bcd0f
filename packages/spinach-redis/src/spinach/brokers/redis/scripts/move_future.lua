-- Queue the future jobs and periodic tasks now due.
-- KEYS[1]: future jobs (zset); KEYS[2]: periodic tasks (zset name -> next due)
-- ARGV: prefix, now, most future jobs to move in one call
-- Returns {rejected count, next due timestamp or false}.
local now = tonumber(ARGV[2])
local pushes = new_pushes()

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local rejected = 0
for _, payload in ipairs(due) do
  local id, _, queue = parse_head(payload)
  if id then
    queue_job(pushes, queue, payload)
  else
    redis.call('RPUSH', P .. 'rejected', payload)
    rejected = rejected + 1
  end
end
if #due > 0 then chunked('ZREM', KEYS[1], due) end

-- A periodic task runs once per slot of its grid: the job is dated by its
-- slot, its id derives from it, and missed slots are skipped, not caught up.
local periodic = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES')
for i = 1, #periodic, 2 do
  local name, slot = periodic[i], tonumber(periodic[i + 1])
  local def = redis.call('HGET', P .. 'periodic_defs', name)
  if def then
    local period, queue, retries = string.match(def, '^([^|]+)|([^|]+)|(%d+)$')
    period = tonumber(period)
    local at = num(slot)
    local id = string.sub(redis.sha1hex(P .. name .. '|' .. at), 1, 32)
    queue_job(pushes, queue, '{"id":"' .. id .. '","task_name":"' .. name .. '","queue":"' .. queue
      .. '","at":' .. at .. ',"max_retries":' .. retries
      .. ',"retries":0,"args":[],"kwargs":{}}')
    local missed = math.floor((now - slot) / period)
    redis.call('ZADD', KEYS[2], num(slot + (missed + 1) * period), name)
  else
    redis.call('ZREM', KEYS[2], name)
  end
end

push_all(pushes, KEYS[1])
publish()

local next_due = false
if #due == tonumber(ARGV[3]) then
  next_due = ARGV[2]  -- more are due already
else
  local f = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local p = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if f[2] then next_due = f[2] end
  if p[2] and (not next_due or tonumber(p[2]) < tonumber(next_due)) then next_due = p[2] end
end
return {rejected, next_due}
