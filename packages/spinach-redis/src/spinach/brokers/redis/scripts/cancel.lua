-- Cancel tracked jobs, all or none.
-- KEYS[1]: future jobs (zset)
-- ARGV: prefix, now, then the ids of the jobs
-- A job not started yet is removed from where it waits (its queue, the
-- parked jobs of its task, the future jobs) and its record says cancelled,
-- in this one step: no fetch can take it afterwards. A running job's record
-- gets cancel = 1, and the workers are told ('x:<id>'): the one running it
-- asks the job to stop. A finished job is left alone.
-- Returns the status of each job after the call (a JobStatus value), or
-- false for a job without a record; then nothing was changed.
local records, statuses, missing = {}, {}, false
for i = 3, #ARGV do
  local record = safe_call('HMGET', P .. 'job:' .. ARGV[i], 'status', 'payload', 'cancel')
  local status = tonumber(record[1])
  if not status or type(record[2]) ~= 'string' then missing = true end
  records[#records + 1] = record
  statuses[#statuses + 1] = status or false
end
if missing then return statuses end

local now = clock()
for n, record in ipairs(records) do
  local id, status, payload = ARGV[n + 2], statuses[n], record[2]
  if status == 1 or status == 2 then
    local removed = safe_call('ZREM', KEYS[1], payload)
    local _, task, queue = parse_head(payload)
    if removed == 0 and queue then
      removed = safe_call('LREM', P .. 'queue:' .. queue, 1, payload)
      if removed == 0 and task then
        removed = safe_call('LREM', P .. 'parked:' .. task, 1, payload)
        if removed > 0 then add_parked(queue, -1) end
      end
    end
    local ttl, keep = track_of(payload)
    if removed > 0 and ttl then
      record_finished(id, 6, ttl, now)
      if keep then store_outcome(id, 6, keep) end
      statuses[n] = 6
    end
  elseif status == 3 and record[3] ~= '1' then
    safe_call('HSET', P .. 'job:' .. id, 'cancel', 1)
    note('x:' .. id)
  end
end
publish()
return statuses
