-- The start of every script of the Spinach Redis broker: this paragraph,
-- then the functions below that the script calls, directly or not
-- (scripts.prelude_for). Paragraphs are split at blank lines: keep each
-- function, with its comment, in one paragraph.
--
-- ARGV[1] is always the key prefix of the namespace, "{namespace}:", whose
-- hash tag keeps every key of a namespace in one Redis Cluster slot, and
-- ARGV[2] the time to use: '' for the Redis server's own clock (TIME), the
-- one clock every producer and worker agrees on; a number in tests.
-- Values never become script text: every one of them arrives in ARGV.
--
-- Rules every script keeps, so that a failing script destroys nothing:
-- everything read from Redis is checked before it is used (a value that is
-- not what the script expects is repaired or set aside, never fatal), and
-- a job is written to its destination before it is removed from its source.
local P = ARGV[1]
local NOTES = {}

-- The time of the call, in seconds (the server's clock unless ARGV[2] says).
local function clock()
  if ARGV[2] ~= '' then return tonumber(ARGV[2]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- A job payload starts with {"id":"<32 hex>","task_name":"<JSON string>","queue":"<name>"
-- (spinach.job.Job.serialize). Return id, task token, queue, or nil.
local function parse_head(payload)
  if type(payload) ~= 'string' or string.sub(payload, 1, 7) ~= '{"id":"' then return nil end
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
  local queue = string.sub(payload, rest + 10, queue_end - 1)
  if not string.match(queue, '^[%w_.:%-]+$') then return nil end
  return id, string.sub(payload, 55, task_end - 1), queue
end

local function num(x)
  return string.format('%.6f', x)
end

-- Run cmd key v1 v2 ... in chunks (Lua's unpack has a stack limit).
local function chunked(cmd, key, values)
  local step = 4000  -- even, so that ZADD score/member and HSET pairs stay together
  for s = 1, #values, step do
    redis.call(cmd, key, unpack(values, s, math.min(s + step - 1, #values)))
  end
end

-- Like chunked(), collecting the replies of a command that returns a list.
local function chunked_list(cmd, key, values)
  local out = {}
  for s = 1, #values, 1000 do
    local part = redis.call(cmd, key, unpack(values, s, math.min(s + 999, #values)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

local function note(what)
  NOTES[what] = true
end

-- Push payloads to a queue, and remember the queue's name when its list is
-- created (so that inspection and flush never need SCAN or KEYS).
local function push(queue, payloads)
  local key = P .. 'queue:' .. queue
  local length = 0
  local step = 4000
  for s = 1, #payloads, step do
    length = redis.call('RPUSH', key, unpack(payloads, s, math.min(s + step - 1, #payloads)))
  end
  if length == #payloads then redis.call('SADD', P .. 'queues', queue) end
  note('q:' .. queue)
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
    push(name, pushes.queues[name])
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

-- Run a command on one of the namespace's keys; if the key holds a value of
-- another type (a foreign write, an operator's SET), it is renamed aside
-- ('<key>:corrupt', kept for inspection) and the command runs again on a new
-- key, so that a script never stops halfway because of it.
-- Returns the reply, and whether the key was set aside.
local function safe_call(cmd, key, ...)
  local reply = redis.pcall(cmd, key, ...)
  if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'WRONGTYPE', 1, true) then error(reply.err) end
    local renamed = redis.pcall('RENAME', key, key .. ':corrupt')
    if type(renamed) == 'table' and renamed.err then redis.call('DEL', key) end
    return redis.call(cmd, key, ...), true
  end
  return reply, false
end

-- A payload may end with ,"track":<seconds> (spinach.job.Job.track: how
-- long the job's record is kept once it is finished), then ,"result":<seconds>
-- (Job.result_ttl: how long its outcome is kept), before a signature if
-- signed. Returns both (nil for those absent). Only the tail is looked at:
-- the cost does not grow with the payload.
local function track_of(payload)
  -- The fast answer for most jobs: a field of theirs ends with a digit just
  -- before the closing brace (or before a signature, 74 characters long);
  -- a payload without them ends with the brace of its kwargs there.
  local last = string.byte(payload, -2)
  if last == 34 then last = string.byte(payload, -76) end  -- '"': signed
  if not last or last < 48 or last > 57 then return nil, nil end
  local tail = string.sub(payload, -160)
  local unsigned = string.match(tail, '^(.*),"sig":"%x+"}$')
  if unsigned then tail = unsigned .. '}' end
  local keep = string.match(tail, ',"result":(%d+)}$')
  if keep then tail = string.sub(tail, 1, -(#keep + 12)) .. '}' end
  local ttl = string.match(tail, ',"track":(%d+)}$')
  return ttl and tonumber(ttl), keep and tonumber(keep)
end

-- The digest of a unique job's key (spinach.task.Task.unique_digest: 40 hex
-- digits), written ,"unique":"<digest>" just before ,"track": at the end of
-- its payload; nil for any other payload. Only the tail is looked at, and a
-- payload without the field costs one plain search.
local function unique_of(payload)
  if type(payload) ~= 'string' or not string.find(payload, ',"unique":"', -300, true) then
    return nil
  end
  local tail = string.sub(payload, -300)
  local unsigned = string.match(tail, '^(.*),"sig":"%x+"}$')
  if unsigned then tail = unsigned .. '}' end
  local kept = string.match(tail, '^(.*),"result":%d+}$')
  if kept then tail = kept .. '}' end
  local digest = string.match(tail, ',"unique":"(%x+)","track":%d+}$')
  if digest and #digest == 40 then return digest end
  return nil
end

-- A unique key ({ns}:unique, digest -> job id) is held by a live job only:
-- one whose record says waiting, queued or running. The key is freed when
-- the job ends (record_finished), and a holder that ended without freeing it
-- (a version that knew nothing of it, a record expired) holds nothing: its
-- key is taken over. Returns nil when job `id` now holds the key, else the
-- live holder's id and status.
local LIVE = {['1'] = true, ['2'] = true, ['3'] = true}
local function claim_unique(digest, id)
  local holder = safe_call('HGET', P .. 'unique', digest)
  if holder and holder ~= id then
    local status = safe_call('HGET', P .. 'job:' .. holder, 'status')
    if LIVE[status] then return holder, status end
  end
  safe_call('HSET', P .. 'unique', digest, id)
  return nil
end

-- Free the unique key of a job that ended, if it holds it.
local function release_unique(payload, id)
  local digest = unique_of(payload)
  if digest and safe_call('HGET', P .. 'unique', digest) == id then
    redis.call('HDEL', P .. 'unique', digest)
  end
end

-- Store the outcome of a job over for good, for whoever waits for its result
-- (spinach.outcome): {"status":4,"result":<JSON>} or {"status":5|6,"error":...}.
-- Waiters block on the list with BLMOVE list list, which leaves it as it is.
local function store_outcome(id, status, keep, value, err)
  local text
  if status == 4 then
    if value == nil or value == '' then value = 'null' end
    text = '{"status":4,"result":' .. value .. '}'
  else
    if err == nil or err == '' then err = 'null' end
    text = '{"status":' .. status .. ',"error":' .. err .. '}'
  end
  local key = P .. 'result:' .. id
  safe_call('RPUSH', key, text)  -- waiters read the last one: a job run again adds one
  redis.call('EXPIRE', key, keep)
end

-- The record of a tracked job (a hash): status (a spinach.job.JobStatus
-- value), payload (what a cancel removes from where the job waits),
-- enqueued_at, started_at, finished_at, worker, error, cancel.
-- A tracked job stored to wait (status 1) or to be run (status 2), with the
-- error of its last attempt if any; `now` is given for a new job only, as
-- its enqueue date; `wait` is how long until it is due (seconds). A record
-- not finished expires all the same SAFETY seconds after it is due, so that
-- no record outlives its job for ever (one set aside without a word, one
-- run by a worker of a version that keeps no records).
local SAFETY = 30 * 86400
local function record_stored(payload, status, now, err, wait)
  local fields = {'status', status, 'payload', payload}
  if now then
    fields[#fields + 1] = 'enqueued_at'
    fields[#fields + 1] = num(now)
  end
  if err and err ~= '' then
    fields[#fields + 1] = 'error'
    fields[#fields + 1] = err
  end
  local key = P .. 'job:' .. string.sub(payload, 8, 39)
  safe_call('HSET', key, unpack(fields))
  local ttl = track_of(payload) or 0
  redis.call('EXPIRE', key, math.floor(ttl + SAFETY + math.max(0, wait or 0)))
end

-- A tracked job starts on a worker (its payload too, for a record started
-- by a version that kept none).
local function record_started(payload, now, worker)
  safe_call('HSET', P .. 'job:' .. string.sub(payload, 8, 39), 'status', 3,
    'started_at', num(now), 'worker', worker, 'payload', payload)
end

-- A tracked job is over for good: its record expires `ttl` seconds from now,
-- and its unique key (read from `payload`) is freed.
local function record_finished(id, status, ttl, now, err, payload)
  release_unique(payload, id)
  local key = P .. 'job:' .. id
  if err and err ~= '' then
    safe_call('HSET', key, 'status', status, 'finished_at', num(now), 'error', err)
  else
    safe_call('HSET', key, 'status', status, 'finished_at', num(now))
  end
  redis.call('EXPIRE', key, ttl)
end

-- A job failed for good: keep it in the registry of failed jobs, a zset
-- ({ns}:failed, ids by date) and a hash per job ({ns}:failed:<id>: payload,
-- error, failed_at, worker, history), the newest `most` for `ttl` seconds.
-- A job that failed before and was requeued keeps its earlier failures in
-- history (the last 20). Costs commands only when a job fails.
local function keep_failed(id, payload, err, now, worker, most, ttl)
  local key = P .. 'failed:' .. id
  local before = safe_call('HMGET', key, 'error', 'failed_at', 'requeued_at', 'history')
  local history = {}
  if before[4] then
    local ok, decoded = pcall(cjson.decode, before[4])
    if ok and type(decoded) == 'table' then history = decoded end
  end
  if before[1] and before[2] then
    local ok, decoded = pcall(cjson.decode, before[1])
    history[#history + 1] = {error = ok and decoded or cjson.null,
      failed_at = tonumber(before[2]), requeued_at = tonumber(before[3]) or cjson.null}
    while #history > 20 do table.remove(history, 1) end
  end
  if err == nil or err == '' then err = 'null' end
  local text = '[]'
  if #history > 0 then text = cjson.encode(history) end
  safe_call('DEL', key)
  safe_call('HSET', key, 'payload', payload, 'error', err, 'failed_at', num(now),
    'worker', worker, 'history', text)
  redis.call('EXPIRE', key, ttl)
  local registry = P .. 'failed'
  safe_call('ZADD', registry, num(now), id)
  -- Bounds: entries past their TTL (their hash expired), then the oldest.
  local stale = safe_call('ZRANGEBYSCORE', registry, '-inf', '(' .. num(now - ttl), 'LIMIT', 0, 100)
  if #stale > 0 then chunked('ZREM', registry, stale) end
  local excess = safe_call('ZCARD', registry) - most
  if excess > 0 then
    local oldest = safe_call('ZRANGE', registry, 0, math.min(excess, 1000) - 1)
    for _, old in ipairs(oldest) do redis.call('DEL', P .. 'failed:' .. old) end
    chunked('ZREM', registry, oldest)
  end
end

-- Set aside a payload that cannot be read as a job; the list keeps the
-- newest entries only, so that a flood of garbage cannot fill the memory.
-- One that stands for a job (a readable head) also enters the registry of
-- failed jobs, with `err` (JSON) or a default reason, bounded as the
-- workers of the namespace registered it ({ns}:failed_bounds); a tracked
-- one ends there (its record says failed, its outcome is stored), so that
-- nobody waits for a job that will never run.
local function reject(payload, err)
  redis.call('RPUSH', P .. 'rejected', payload)
  redis.call('LTRIM', P .. 'rejected', -10000, -1)
  if type(payload) ~= 'string' then return end
  local id = parse_head(payload)
  if not id then return end
  if not err or err == '' then
    err = '{"type":"spinach.exc.SerializationError","message":"its payload was set aside as '
      .. 'unreadable (not signed with the key of the workers, larger than their limit, or '
      .. 'not written as Spinach writes it)","traceback":""}'
  end
  local now = clock()
  local ttl, keep = track_of(payload)
  if ttl then record_finished(id, 5, ttl, now, err, payload) end
  if keep then store_outcome(id, 5, keep, nil, err) end
  local bounds = safe_call('HMGET', P .. 'failed_bounds', 'kept', 'ttl')
  keep_failed(id, payload, err, now, '', tonumber(bounds[1]) or 10000,
    tonumber(bounds[2]) or 604800)
end

-- Whether a tracked job taken from a queue was cancelled while it waited
-- (cancel.lua marks it, for the fetch to drop it: no scan of the queue); it
-- ends then, if it had not yet.
local function cancelled_here(id, payload)
  local ttl, keep = track_of(payload)
  if not ttl then return false end
  local record = safe_call('HMGET', P .. 'job:' .. id, 'cancel', 'status')
  if record[1] ~= '1' then return false end
  if record[2] ~= '6' then
    local now = clock()
    record_finished(id, 6, ttl, now, nil, payload)
    if keep then store_outcome(id, 6, keep) end
  end
  return true
end

-- The number of parked jobs of a queue, counted again from the parked lists.
local function recount_parked(queue)
  local count = 0
  local tasks = safe_call('HKEYS', P .. 'max_concurrency')
  for _, task in ipairs(tasks) do
    for _, payload in ipairs(safe_call('LRANGE', P .. 'parked:' .. task, 0, -1)) do
      local _, _, q = parse_head(payload)
      if q == queue then count = count + 1 end
    end
  end
  return count
end

-- Add to the count of parked jobs of a queue; a count that is not a number
-- is counted again instead of stopping the script.
local function add_parked(queue, n)
  local key = P .. 'parked_count'
  local raw = safe_call('HGET', key, queue)
  if raw and not string.match(raw, '^%-?%d+$') then
    safe_call('HSET', key, queue, recount_parked(queue))
    return
  end
  safe_call('HINCRBY', key, queue, n)
end

-- The number of jobs of a task counted against its limit, recounted from
-- the running jobs of every registered worker: repairs a counter that is
-- not a number (an operator's mistake, a foreign write) instead of failing.
local function recount(task)
  local count = 0
  for _, broker in ipairs(redis.call('ZRANGE', P .. 'brokers', 0, -1)) do
    for _, kind in ipairs({'running:', 'adopted:'}) do
      for _, entry in ipairs(safe_call('HVALS', P .. kind .. broker)) do
        if string.sub(entry, 1, 1) == '1' then
          local _, t = parse_head(string.sub(entry, 2))
          if t == task then count = count + 1 end
        end
      end
    end
  end
  safe_call('HSET', P .. 'current_concurrency', task, count)
  return count
end

-- Jobs of a task counted against its limit now.
local function current_count(task)
  local raw, lost = safe_call('HGET', P .. 'current_concurrency', task)
  if lost then  -- every counter was lost with the key: count them all again
    local limits = safe_call('HKEYS', P .. 'max_concurrency')
    for _, other in ipairs(limits) do recount(other) end
    return recount(task)
  end
  if not raw then return 0 end
  local n = tonumber(raw)
  if n and n >= 0 and n == math.floor(n) then return n end
  return recount(task)
end

-- The concurrency limit of a task, or nil; a limit that is not a positive
-- integer is removed (the next worker to start sets it again).
local function limit_of(task)
  local raw = safe_call('HGET', P .. 'max_concurrency', task)
  if not raw then return nil end
  local n = tonumber(raw)
  if n and n >= 1 and n == math.floor(n) then return n end
  redis.call('HDEL', P .. 'max_concurrency', task)
  return nil
end

-- Move parked jobs of a task back to the front of their queue, as many as
-- its concurrency limit now allows. Jobs cancelled while they were parked
-- are dropped on the way and take no slot: the next ones move instead.
local function unpark(task)
  local parked = P .. 'parked:' .. task
  local count = safe_call('LLEN', parked)
  if count == 0 then return end
  local max = limit_of(task)
  local n = count
  if max then n = math.min(count, max - current_count(task)) end
  if n <= 0 then return end
  local live, taken, left = {}, 0, {}
  while #live < n and taken < count do
    local items = safe_call('LRANGE', parked, taken, taken + math.max(n - #live, 100) - 1)
    if #items == 0 then break end
    for _, item in ipairs(items) do
      taken = taken + 1
      local id, _, queue = parse_head(item)
      if id and cancelled_here(id, item) then
        left[queue] = (left[queue] or 0) + 1
      else
        live[#live + 1] = item
        if #live == n then break end
      end
    end
  end
  local moved = {}
  for i = #live, 1, -1 do
    local _, _, queue = parse_head(live[i])
    if queue then
      redis.call('LPUSH', P .. 'queue:' .. queue, live[i])
      redis.call('SADD', P .. 'queues', queue)
      moved[queue] = (moved[queue] or 0) + 1
      note('q:' .. queue)
    else
      reject(live[i])
    end
  end
  safe_call('LTRIM', parked, taken, -1)  -- the destination first, then the source
  for queue, c in pairs(moved) do add_parked(queue, -c) end
  for queue, c in pairs(left) do add_parked(queue, -c) end
end

-- A job counted against its task's concurrency limit is over.
local function release(task)
  local current = current_count(task)
  safe_call('HSET', P .. 'current_concurrency', task, math.max(0, current - 1))
  unpark(task)
end

-- Whether a payload is a run of a periodic task that has been retired (its
-- id is the one move_future.lua gives the slot, and the task has no
-- definition any more): a worker that does not know the task drops it
-- instead of handing it back for ever.
local function retired_periodic_run(payload)
  local id, task = parse_head(payload)
  if not task or redis.call('HEXISTS', P .. 'periodic_defs', task) == 1 then return false end
  local at = string.match(payload, ',"at":([%d.eE+-]+),')
  return at ~= nil and string.sub(redis.sha1hex(P .. task .. '|' .. at), 1, 32) == id
end

-- Record the outcome of finished jobs, given in ARGV[first..last] as
-- (job id, outcome, target, payload, error) quintuples; idempotent.
--   outcome 's', 'x', 'c': succeeded, failed, cancelled: forget it
--   outcome 'd': done, forget it (no status for its record)
--   outcome 'q': enqueue payload again in queue <target>
--   outcome 'f': enqueue payload again for timestamp <target> (at once if due)
--   outcome 'h': hand the job back unchanged (the payload recorded when it
--                was fetched), due <target> seconds from now
-- The record of a tracked job says so, with the error of its last attempt
-- (JSON, or ''); a tracked job whose cancel was requested is not enqueued
-- again: it ends cancelled.
-- A job that failed ('x') goes to the registry of failed jobs; `failed` is
-- {worker id, most kept, seconds kept} (see keep_failed).
-- A job no longer running here (recovered meanwhile as if this worker were
-- dead) is left alone. Returns how many were still running here.
local FINAL = {s = 4, x = 5, c = 6}
local function acknowledge(running_key, future_key, first, last, failed)
  local ids = {}
  for i = first, last, 5 do ids[#ids + 1] = ARGV[i] end
  if #ids == 0 then return 0 end
  local held = {}
  for s = 1, #ids, 1000 do
    local part = safe_call('HMGET', running_key, unpack(ids, s, math.min(s + 999, #ids)))
    for _, v in ipairs(part) do held[#held + 1] = v end
  end
  local pushes = new_pushes()
  local n, settled, releases = 0, 0, {}
  local now  -- read only if a retry or a hand-back needs it: TIME is a command
  for i = first, last, 5 do
    n = n + 1
    local entry = held[n]
    if entry then
      settled = settled + 1
      local recorded = string.sub(entry, 2)
      if string.sub(entry, 1, 1) == '1' then
        local _, task = parse_head(recorded)
        if task then releases[#releases + 1] = task end
      end
      local outcome, target, payload, err = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      local ttl, keep = track_of(recorded)
      if ttl and (outcome == 'q' or outcome == 'f' or outcome == 'h')
          and safe_call('HGET', P .. 'job:' .. ARGV[i], 'cancel') == '1' then
        outcome = 'c'  -- asked to cancel while it ran: it does not run again
      end
      if outcome == 'q' then
        queue_job(pushes, target, payload)
        if ttl then record_stored(payload, 2, nil, err) end
      elseif outcome == 'f' then
        local at = tonumber(target)
        now = now or clock()
        if at and at > now then
          defer_job(pushes, target, payload)
          if ttl then record_stored(payload, 1, nil, err, at - now) end
        else
          local _, _, queue = parse_head(payload)
          if queue then queue_job(pushes, queue, payload) else reject(payload) end
          if ttl and queue then record_stored(payload, 2, nil, err) end
        end
      elseif outcome == 'h' then
        if not retired_periodic_run(recorded) then
          now = now or clock()
          defer_job(pushes, num(now + (tonumber(target) or 1)), recorded)
          if ttl then record_stored(recorded, 1, nil, nil, tonumber(target) or 1) end
        end
      elseif FINAL[outcome] then
        if ttl or outcome == 'x' then now = now or clock() end  -- TIME is a command
        if ttl then record_finished(ARGV[i], FINAL[outcome], ttl, now, err, recorded) end
        if keep then store_outcome(ARGV[i], FINAL[outcome], keep, payload, err) end
        if outcome == 'x' then
          keep_failed(ARGV[i], recorded, err, now, failed[1], failed[2], failed[3])
        end
      end
    end
  end
  push_all(pushes, future_key)  -- the destination first, then the source
  chunked('HDEL', running_key, ids)
  for _, task in ipairs(releases) do release(task) end
  return settled
end

-- The rate limits of the fetching worker's tasks, sent with each fetch as
-- "<task token>\1<most starts>\1<period in seconds>\1..." ('' for none: then
-- no job pays anything for the feature). A token never holds a raw \1.
local function parse_rates(spec)
  local rates, parts = {}, {}
  if spec == nil or spec == '' then return rates end
  for part in string.gmatch(spec, '[^\1]+') do parts[#parts + 1] = part end
  for i = 1, #parts - 2, 3 do
    local most, period = tonumber(parts[i + 1]), tonumber(parts[i + 2])
    if most and period and most >= 1 and period > 0 then
      rates[parts[i]] = {most = most, period = period}
    end
  end
  return rates
end

-- The member of a job's attempt in its task's rate window: its id and its
-- retries (from the canonical head: a raw '"' cannot be in the task name).
local function rate_member(id, payload)
  return id .. ':' .. (string.match(payload, ',"retries":(%d+),"args":') or '0')
end

-- Whether an attempt of a job of a rate-limited task may start now. Its
-- task's window ({ns}:rate:<task>, a zset by date) holds the starts of the
-- last period and the dates reserved for the attempts refused: a refused
-- attempt reserves the earliest date at which the window has room, after
-- every date reserved before it, and waits until then; back at that date,
-- it starts if the starts of the period before leave room (they do, unless
-- newer starts came meanwhile: then it reserves again). An attempt without
-- a reservation starts only if the starts and reservations leave room, so it
-- never passes the attempts that wait. Returns true, or false and the date.
local function rate_admits(task, member, rate, now)
  local window = P .. 'rate:' .. task
  local since = '(' .. num(now - rate.period)
  if not rate.trimmed then
    safe_call('ZREMRANGEBYSCORE', window, '-inf', since)
    rate.trimmed = true
  end
  local reserved = safe_call('ZSCORE', window, member)
  local taken
  if reserved then
    safe_call('ZREM', window, member)
    taken = safe_call('ZCOUNT', window, since, num(now))
  else
    taken = safe_call('ZCOUNT', window, since, '+inf')
  end
  if taken < rate.most then
    safe_call('ZADD', window, num(now), member)
    rate.added = window  -- fetch() sets its expiry, once per call
    return true
  end
  -- Entries from the oldest in the period on: the new date is one period
  -- after the entry that must leave, and after the last one reserved.
  local count = safe_call('ZCOUNT', window, since, '+inf')
  local leaving = safe_call('ZRANGEBYSCORE', window, since, '+inf', 'WITHSCORES', 'LIMIT',
    count - rate.most, 1)
  local last = safe_call('ZRANGE', window, -1, -1, 'WITHSCORES')
  local at = math.max(now, (tonumber(leaving[2]) or now) + rate.period,
    (tonumber(last[2]) or now) + 0.000001)
  safe_call('ZADD', window, num(at), member)
  rate.added = window
  return false, at
end

-- Take up to `want` runnable jobs from a queue and record them as running
-- here, looking at `budget` payloads and taking `max_bytes` of payloads at
-- most (at least one job). Jobs over their task's concurrency limit are
-- parked, not skipped over, so the next call does not look at them again;
-- jobs over their task's rate limit (`rates`, see parse_rates) wait with the
-- future jobs until their window has room (their record says waiting).
-- Unreadable payloads are set aside in the rejected list.
-- Returns {rejected count, payloads...}, its field `short` true if it
-- stopped on its budget with jobs left in the queue.
local function fetch(queue_key, running_key, want, queue, budget, max_bytes, max_payload,
                     rates)
  local limited = redis.call('EXISTS', P .. 'max_concurrency') == 1
  local maxes, currents, changed = {}, {}, {}
  local out, fields, rejected, bytes = {}, {}, 0, 0
  local parked, waiting = {}, {}
  local now
  while #out < want and budget > 0 and bytes < max_bytes do
    local batch = redis.call('LPOP', queue_key, math.min(want - #out, budget))
    if not batch then break end
    budget = budget - #batch
    for index, payload in ipairs(batch) do
      if bytes >= max_bytes then
        -- Enough for one call: the rest goes back to the front, in order.
        for k = #batch, index, -1 do redis.call('LPUSH', queue_key, batch[k]) end
        break
      end
      local id, task = parse_head(payload)
      if not id or #payload > max_payload then
        reject(payload)
        rejected = rejected + 1
      elseif cancelled_here(id, payload) then
        -- Cancelled while it waited: dropped, never run.
      else
        local flag = '0'
        if limited then
          local max = maxes[task]
          if max == nil then
            max = limit_of(task) or false
            maxes[task] = max
          end
          if max then
            local current = currents[task]
            if current == nil then current = current_count(task) end
            if current >= max then
              parked[#parked + 1] = {task, payload}
              flag = nil
            else
              current = current + 1
              changed[task] = true
              flag = '1'
            end
            currents[task] = current
          end
        end
        local rate = flag and rates[task]
        if rate then
          now = now or clock()
          local admitted, at = rate_admits(task, rate_member(id, payload), rate, now)
          if not admitted then
            waiting[#waiting + 1] = {at, payload}
            if flag == '1' then currents[task] = currents[task] - 1 end
            flag = nil
          end
        end
        if flag then
          fields[#fields + 1] = id
          fields[#fields + 1] = flag .. payload
          out[#out + 1] = payload
          bytes = bytes + #payload
        end
      end
    end
  end
  -- The jobs are popped: from here on nothing may stop the script.
  for task, rate in pairs(rates) do
    if rate.added then
      -- It outlives its last reservation by a period; flush() finds it by
      -- {ns}:rate_tasks.
      local last = safe_call('ZRANGE', rate.added, -1, -1, 'WITHSCORES')
      local until_last = math.max(0, (tonumber(last[2]) or now) - now)
      redis.call('PEXPIRE', rate.added, math.ceil((until_last + rate.period) * 1000) + 1000)
      safe_call('SADD', P .. 'rate_tasks', task)
      rate.added = nil
    end
  end
  for _, item in ipairs(waiting) do
    safe_call('ZADD', P .. 'future', num(item[1]), item[2])
    if track_of(item[2]) then record_stored(item[2], 1, nil, nil, item[1] - now) end
    note('f')
  end
  for s = 1, #fields, 4000 do
    safe_call('HSET', running_key, unpack(fields, s, math.min(s + 3999, #fields)))
  end
  for _, payload in ipairs(out) do
    if track_of(payload) then
      now = now or clock()
      record_started(payload, now, ARGV[3])
    end
  end
  for task in pairs(changed) do
    safe_call('HSET', P .. 'current_concurrency', task, currents[task])
  end
  for _, item in ipairs(parked) do
    safe_call('RPUSH', P .. 'parked:' .. item[1], item[2])
  end
  if #parked > 0 then add_parked(queue, #parked) end
  local short = false
  if (budget <= 0 or bytes >= max_bytes) and redis.call('LLEN', queue_key) > 0 then
    note('q:' .. queue)  -- looked at enough for one call: wake workers for more
    short = true
  end
  table.insert(out, 1, rejected)
  -- Stopped on its budget with jobs left unseen (a field Redis does not reply).
  out.short = short
  return out
end

-- Take up to `want` runnable jobs from queues in strict priority order: a
-- queue is taken from once those before it have no runnable job left.
-- `names` holds the queue names separated by spaces; the key of the first is
-- `first_key`, those of the others are KEYS[extra], KEYS[extra + 1]...
-- Returns what fetch() returns, for all the queues together.
local function fetch_queues(first_key, extra, running_key, want, names, budget, max_bytes,
                            max_payload, rates)
  local out = {0}
  local index, bytes = 0, 0
  for name in string.gmatch(names, '%S+') do
    index = index + 1
    local key = first_key
    if index > 1 then key = KEYS[extra + index - 2] end
    local left = want - (#out - 1)
    if left <= 0 or (index > 1 and bytes >= max_bytes) then break end
    local got = fetch(key, running_key, left, name, budget, max_bytes - bytes, max_payload,
      rates)
    out[1] = out[1] + got[1]
    for i = 2, #got do
      out[#out + 1] = got[i]
      bytes = bytes + #got[i]
    end
    -- Jobs of this queue were left unseen (behind parked ones, say): a later
    -- queue must not pass before them; the next call looks again.
    if got.short then break end
  end
  return out
end

-- Move up to `most` jobs of a committed batch to their queues (or to the
-- future jobs), in order; forget the batch once it is all moved.
-- Returns the number of jobs left, and a status per job moved ('q'/'w').
local function move_staged(batch, most, now)
  local staging, record = P .. 'batch:' .. batch, P .. 'batch:' .. batch .. ':record'
  local entries = redis.call('LRANGE', staging, 0, most - 1)
  local pushes = new_pushes()
  local statuses = {}
  for _, entry in ipairs(entries) do
    local first = string.find(entry, '|', 1, true)
    local second = first and string.find(entry, '|', first + 1, true)
    local kind = first and string.sub(entry, 1, first - 1)
    local target = second and string.sub(entry, first + 1, second - 1)
    local payload = second and string.sub(entry, second + 1)
    local at = kind == 'a' and tonumber(target)
    if not payload then
      reject(entry)
    elseif at and at > now then
      defer_job(pushes, target, payload)
      statuses[#statuses + 1] = 'w'
      if track_of(payload) then record_stored(payload, 1, now, nil, at - now) end
    else
      if kind == 'a' then
        local _, _, queue = parse_head(payload)
        target = queue
      end
      if target and string.match(target, '^[%w_.:%-]+$') then
        queue_job(pushes, target, payload)
        if track_of(payload) then record_stored(payload, 2, now) end
      else
        reject(payload)
      end
      statuses[#statuses + 1] = 'q'
    end
  end
  push_all(pushes, P .. 'future')  -- the destination first, then the source
  redis.call('LTRIM', staging, #entries, -1)
  local left = redis.call('LLEN', staging)
  if left == 0 then
    redis.call('ZREM', P .. 'batches', batch)
    redis.call('HSET', record, 'done', 1)
    redis.call('EXPIRE', record, 3600)  -- answers a retried commit, then goes
  end
  return left, table.concat(statuses)
end
