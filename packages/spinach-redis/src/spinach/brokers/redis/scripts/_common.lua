-- Prepended to every script of the Spinach Redis broker.
--
-- ARGV[1] is always the key prefix of the namespace, "{namespace}:", whose
-- hash tag keeps every key of a namespace in one Redis Cluster slot.
-- Values never become script text: every one of them arrives in ARGV.
local P = ARGV[1]
local NOTES = {}

-- A job payload starts with {"id":"<32 hex>","task_name":"<JSON string>","queue":"<name>"
-- (spinach.job.Job.serialize). Return id, task token, queue, or nil.
local function parse_head(payload)
  if string.sub(payload, 1, 7) ~= '{"id":"' then return nil end
  local id = string.sub(payload, 8, 39)
  if not string.match(id, '^%x+$') or #id ~= 32 then return nil end
  if string.sub(payload, 40, 54) ~= '","task_name":"' then return nil end
  local i, task_end = 55, nil
  while true do
    local quote = string.find(payload, '"', i, true)
    if not quote then return nil end
    local slashes, k = 0, quote - 1
    while k >= 55 and string.byte(payload, k) == 92 do
      slashes = slashes + 1
      k = k - 1
    end
    if slashes % 2 == 0 then
      task_end = quote
      break
    end
    i = quote + 1
  end
  local rest = task_end + 1
  if string.sub(payload, rest, rest + 9) ~= ',"queue":"' then return nil end
  local queue_end = string.find(payload, '"', rest + 10, true)
  if not queue_end or queue_end == rest + 10 then return nil end
  return id, string.sub(payload, 55, task_end - 1), string.sub(payload, rest + 10, queue_end - 1)
end

local function num(x)
  return string.format('%.6f', x)
end

-- Run cmd key v1 v2 ... in chunks (Lua's unpack has a stack limit).
local function chunked(cmd, key, values)
  local step = 4000  -- even, so that ZADD score/member pairs stay together
  for s = 1, #values, step do
    redis.call(cmd, key, unpack(values, s, math.min(s + step - 1, #values)))
  end
end

local function note(what)
  NOTES[what] = true
end

local function publish()
  local parts = {}
  for what in pairs(NOTES) do parts[#parts + 1] = what end
  if #parts > 0 then
    redis.call('PUBLISH', P .. 'notify', table.concat(parts, ' '))
  end
end

-- Move parked jobs of a task back to the front of their queue, as many as
-- its concurrency limit now allows.
local function unpark(task)
  local parked = P .. 'parked:' .. task
  local count = redis.call('LLEN', parked)
  if count == 0 then return end
  local max = redis.call('HGET', P .. 'max_concurrency', task)
  local n = count
  if max then
    local current = tonumber(redis.call('HGET', P .. 'current_concurrency', task) or '0')
    n = math.min(count, tonumber(max) - current)
  end
  if n <= 0 then return end
  local items = redis.call('LRANGE', parked, 0, n - 1)
  redis.call('LTRIM', parked, n, -1)
  for i = #items, 1, -1 do
    local _, _, queue = parse_head(items[i])
    redis.call('LPUSH', P .. 'queue:' .. queue, items[i])
    redis.call('HINCRBY', P .. 'parked_count', queue, -1)
    note('q:' .. queue)
  end
end

-- A job counted against its task's concurrency limit is over.
local function release(task)
  local key = P .. 'current_concurrency'
  if redis.call('HINCRBY', key, task, -1) < 0 then
    redis.call('HSET', key, task, 0)
  end
  unpark(task)
end
