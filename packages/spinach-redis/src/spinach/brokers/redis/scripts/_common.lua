-- The start of every script of the Spinach Redis broker: this paragraph,
-- then the functions below that the script calls, directly or not
-- (scripts.prelude_for). Paragraphs are split at blank lines: keep each
-- function, with its comment, in one paragraph.
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

-- Jobs to add to their queues and to the future jobs, gathered so that each
-- queue gets one RPUSH (queues in the order first seen) and the future jobs
-- one ZADD: new_pushes(), then queue_job()/defer_job(), then push_all().
local function new_pushes()
  return {queues = {}, order = {}, future = {}}
end

local function queue_job(pushes, queue, payload)
  local list = pushes.queues[queue]
  if not list then
    list = {}
    pushes.queues[queue] = list
    pushes.order[#pushes.order + 1] = queue
  end
  list[#list + 1] = payload
end

local function defer_job(pushes, at, payload)
  pushes.future[#pushes.future + 1] = at
  pushes.future[#pushes.future + 1] = payload
end

local function push_all(pushes, future_key)
  for _, name in ipairs(pushes.order) do
    chunked('RPUSH', P .. 'queue:' .. name, pushes.queues[name])
    note('q:' .. name)
  end
  if #pushes.future > 0 then
    chunked('ZADD', future_key, pushes.future)
    note('f')
  end
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

-- Record the outcome of finished jobs, given in ARGV[first..last] as
-- (job id, outcome, target, payload) quadruples; idempotent.
--   outcome 'd': done (succeeded or failed), forget it
--   outcome 'q': enqueue payload again in queue <target>
--   outcome 'f': enqueue payload again for timestamp <target>
-- A job no longer running here (recovered meanwhile as if this worker were
-- dead) is left alone. Returns how many were still running here.
local function acknowledge(running_key, future_key, first, last)
  local ids = {}
  for i = first, last, 4 do ids[#ids + 1] = ARGV[i] end
  if #ids == 0 then return 0 end
  local held = redis.call('HMGET', running_key, unpack(ids))
  redis.call('HDEL', running_key, unpack(ids))
  local pushes = new_pushes()
  local n, settled = 0, 0
  for i = first, last, 4 do
    n = n + 1
    local entry = held[n]
    if entry then
      settled = settled + 1
      if string.sub(entry, 1, 1) == '1' then
        local _, task = parse_head(string.sub(entry, 2))
        release(task)
      end
      local outcome, target, payload = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
      if outcome == 'q' then
        queue_job(pushes, target, payload)
      elseif outcome == 'f' then
        defer_job(pushes, target, payload)
      end
    end
  end
  push_all(pushes, future_key)
  return settled
end

-- Take up to `want` runnable jobs from a queue and record them as running
-- here, looking at `budget` payloads at most. Jobs over their task's
-- concurrency limit are parked, not skipped over, so the next call does not
-- look at them again. Unreadable payloads are set aside in the rejected
-- list. Returns {rejected count, payloads...}.
local function fetch(queue_key, running_key, want, queue, budget)
  local limited = redis.call('EXISTS', P .. 'max_concurrency') == 1
  local maxes, currents, changed = {}, {}, {}
  local out, fields, rejected = {}, {}, 0
  while #out < want and budget > 0 do
    local batch = redis.call('LPOP', queue_key, math.min(want - #out, budget))
    if not batch then break end
    budget = budget - #batch
    for _, payload in ipairs(batch) do
      local id, task = parse_head(payload)
      if not id then
        redis.call('RPUSH', P .. 'rejected', payload)
        rejected = rejected + 1
      else
        local flag = '0'
        if limited then
          local max = maxes[task]
          if max == nil then
            max = tonumber(redis.call('HGET', P .. 'max_concurrency', task)) or false
            maxes[task] = max
          end
          if max then
            local current = currents[task]
            if current == nil then
              current = tonumber(redis.call('HGET', P .. 'current_concurrency', task) or '0')
            end
            if current >= max then
              redis.call('RPUSH', P .. 'parked:' .. task, payload)
              redis.call('HINCRBY', P .. 'parked_count', queue, 1)
              flag = nil
            else
              current = current + 1
              changed[task] = true
              flag = '1'
            end
            currents[task] = current
          end
        end
        if flag then
          fields[#fields + 1] = id
          fields[#fields + 1] = flag .. payload
          out[#out + 1] = payload
        end
      end
    end
  end
  for task in pairs(changed) do
    redis.call('HSET', P .. 'current_concurrency', task, currents[task])
  end
  if #fields > 0 then chunked('HSET', running_key, fields) end
  if budget <= 0 and redis.call('LLEN', queue_key) > 0 then
    note('q:' .. queue)  -- looked at enough for one call: wake workers for more
  end
  table.insert(out, 1, rejected)
  return out
end
