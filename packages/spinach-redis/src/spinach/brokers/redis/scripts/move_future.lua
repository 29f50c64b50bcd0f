-- Queue the future jobs and periodic tasks now due.
-- KEYS[1]: future jobs (zset); KEYS[2]: periodic tasks (zset token -> next due);
-- KEYS[3]: their definitions (hash token -> "period|queue|max_retries")
-- ARGV: prefix, now, most future jobs to move in one call
-- Returns {rejected count, next due timestamp or false}.
-- Everything is read and checked first; jobs reach their queue before they
-- leave the future jobs.
local now = clock()
local stamp = num(now)
local pushes = new_pushes()

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', stamp, 'LIMIT', 0, tonumber(ARGV[3]))
local rejected = 0
for _, payload in ipairs(due) do
  local id, _, queue = parse_head(payload)
  if id then
    queue_job(pushes, queue, payload)
    if track_of(payload) then safe_call('HSET', P .. 'job:' .. id, 'status', 2) end
  else
    reject(payload)
    rejected = rejected + 1
  end
end

-- A periodic task runs once per slot of its grid: the job is dated by its
-- slot, its id derives from it, and missed slots are skipped, not caught up.
local periodic = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', stamp, 'WITHSCORES')
local next_slots, dropped = {}, {}
for i = 1, #periodic, 2 do
  local name, slot = periodic[i], tonumber(periodic[i + 1])
  local def = redis.call('HGET', KEYS[3], name)
  local period, queue, retries
  if def then
    period, queue, retries = string.match(def, '^([%d.eE+-]+)|([%w_.:%-]+)|(%d+)$')
    period = tonumber(period)
  end
  -- The token goes between quotes in the payload: it must be a JSON string's body.
  local ok, decoded = pcall(cjson.decode, '"' .. name .. '"')
  if period and period > 0 and slot and ok and type(decoded) == 'string' then
    local at = num(slot)
    local id = string.sub(redis.sha1hex(P .. name .. '|' .. at), 1, 32)
    queue_job(pushes, queue, '{"id":"' .. id .. '","task_name":"' .. name .. '","queue":"'
      .. queue .. '","at":' .. at .. ',"max_retries":' .. retries
      .. ',"retries":0,"args":[],"kwargs":{}}')
    local missed = math.floor((now - slot) / period)
    next_slots[#next_slots + 1] = num(slot + (missed + 1) * period)
    next_slots[#next_slots + 1] = name
  else
    dropped[#dropped + 1] = name  -- no definition, or not one it can read
    if def then reject('periodic task ' .. name .. ': ' .. def) end
  end
end

push_all(pushes, KEYS[1])
if #due > 0 then chunked('ZREM', KEYS[1], due) end

-- A batch committed long ago and not moved yet: its producer went away.
local orphan = redis.call('ZRANGEBYSCORE', P .. 'batches', '-inf', num(now - 30), 'LIMIT', 0, 1)
local orphan_left = 0
if orphan[1] then orphan_left = move_staged(orphan[1], tonumber(ARGV[3]), now) end
if #next_slots > 0 then chunked('ZADD', KEYS[2], next_slots) end
for _, name in ipairs(dropped) do
  redis.call('ZREM', KEYS[2], name)
  redis.call('HDEL', KEYS[3], name)
end
publish()

local next_due = false
if #due == tonumber(ARGV[3]) or orphan_left > 0 then
  next_due = stamp  -- more are due already
else
  local f = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local p = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if f[2] then next_due = f[2] end
  if p[2] and (not next_due or tonumber(p[2]) < tonumber(next_due)) then next_due = p[2] end
end
return {rejected, next_due}
