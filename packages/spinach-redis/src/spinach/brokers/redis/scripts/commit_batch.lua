-- Commit a staged batch, then move a bounded part of it to its queues.
-- KEYS[1]: the batch's staged jobs (list); KEYS[2]: the batch's record (hash);
-- KEYS[3]: future jobs (zset); KEYS[4]: committed batches being moved (zset)
-- ARGV: prefix, now, batch id, number of chunks staged, most jobs to move
-- The commit is the batch's single atomic step: before it, nothing of the
-- batch is visible and it expires; after it, every job of it will be
-- enqueued, by its producer calling this again until it is done, or by the
-- workers (move_future.lua) if the producer went away. Idempotent.
-- Returns {jobs left to move, statuses of the jobs moved ('q'/'w')}, or
-- {-1, ''} if the batch was not fully staged (it expired: nothing enqueued).
local now = clock()
if not redis.call('ZSCORE', KEYS[4], ARGV[3]) then
  local record = redis.call('HMGET', KEYS[2], 'chunks', 'done')
  if record[2] then return {0, ''} end  -- committed and moved already
  if tonumber(record[1]) ~= tonumber(ARGV[4]) then return {-1, ''} end
  redis.call('ZADD', KEYS[4], num(now), ARGV[3])
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
local left, statuses = move_staged(ARGV[3], tonumber(ARGV[5]), now)
publish()
return {left, statuses}
