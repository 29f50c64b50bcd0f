-- Cancel tracked jobs, all or none.
-- KEYS[1]: future jobs (zset)
-- ARGV: prefix, now, then the ids of the jobs
-- A job not started yet ends cancelled here, in this one step: a future one
-- leaves the future jobs (ZREM, O(log n)); one in a queue, parked, or on
-- its way between two places keeps its place, marked (cancel = 1), and the
-- fetch that finds it drops it, so that cancelling never scans a queue.
-- Its record is then kept until it can no longer be found (SAFETY). A
-- running job's record gets cancel = 1, and the workers are told ('x:<id>')
-- on every call: the one running it asks the job to stop (it also finds the
-- mark at its next heartbeat, should a notification be lost). A finished
-- job is left alone.
-- Returns the status of each job after the call (a JobStatus value), or
-- false for a job without a record; then nothing was changed.
local SAFETY = 30 * 86400
local records, statuses, missing = {}, {}, false
for i = 3, #ARGV do
  local record = safe_call('HMGET', P .. 'job:' .. ARGV[i], 'status', 'payload')
  local status = tonumber(record[1])
  if not status or type(record[2]) ~= 'string' then missing = true end
  records[#records + 1] = record
  statuses[#statuses + 1] = status or false
end
if missing then return statuses end

local now = clock()
for n, record in ipairs(records) do
  local id, status, payload = ARGV[n + 2], statuses[n], record[2]
  local key = P .. 'job:' .. id
  if status == 1 or status == 2 then
    local ttl, keep = track_of(payload)
    ttl = ttl or 0
    local removed = safe_call('ZREM', KEYS[1], payload)
    record_finished(id, 6, ttl, now, nil, payload)
    if removed == 0 then
      safe_call('HSET', key, 'cancel', 1)
      redis.call('EXPIRE', key, ttl + SAFETY)
    end
    if keep then store_outcome(id, 6, keep) end
    statuses[n] = 6
  elseif status == 3 then
    safe_call('HSET', key, 'cancel', 1)
    note('x:' .. id)
  end
end
publish()
return statuses
