-- Move failed jobs back to their queue, with the payloads the Engine made
-- for them (retries reset).
-- KEYS[1]: the registry of failed jobs (zset id -> failed_at)
-- ARGV: prefix, now, then (job id, failed_at read, queue, payload)...
-- A job whose entry is gone, or failed again since it was read, is skipped.
-- The entry leaves the registry; its hash stays (until it expires) with
-- requeued_at, so that the job's history goes on if it fails again. A
-- tracked job's record says queued again and expires as a live one; a stored
-- outcome is forgotten, so that a waiter waits for the new run.
-- A unique job is requeued only if it can take its key: while another live
-- job holds it (a newer job, or a failed job of the same key requeued by this
-- call), it stays in the registry, so that two jobs of one key never run.
-- Returns the ids of the jobs moved.
local now = clock()
local pushes = new_pushes()
local moved = {}
for i = 3, #ARGV, 4 do
  local id, read, queue, payload = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local listed = safe_call('ZSCORE', KEYS[1], id)
  local score = tonumber(listed)
  local digest = score and read and math.abs(score - read) < 0.00001 and unique_of(payload)
  if digest and claim_unique(digest, id) then score = nil end  -- a live job holds its key
  if score and read and math.abs(score - read) < 0.00001 then
    queue_job(pushes, queue, payload)
    safe_call('HSET', P .. 'failed:' .. id, 'requeued_at', num(now))
    redis.call('DEL', P .. 'result:' .. id)
    if track_of(payload) then
      safe_call('HDEL', P .. 'job:' .. id, 'finished_at', 'cancel')
      record_stored(payload, 2, nil)  -- its expiry is a live record's again
    end
    moved[#moved + 1] = id
  end
end
push_all(pushes, P .. 'future')
if #moved > 0 then chunked('ZREM', KEYS[1], moved) end
publish()
return moved
