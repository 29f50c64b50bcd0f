-- Enqueue jobs, all or none.
-- KEYS[1]: future jobs (zset)
-- ARGV: prefix, producer, sequence, ttl_ms, then (kind, target, payload)...
--   kind 'q': target is the queue; kind 'f': target is the start timestamp.
-- A producer's sequence number makes a retried call idempotent: a call whose
-- reply was lost is not applied twice.
if ARGV[2] ~= '' then
  local last = redis.call('SET', P .. 'idem:' .. ARGV[2], ARGV[3], 'GET', 'PX', ARGV[4])
  if last and tonumber(last) >= tonumber(ARGV[3]) then return 0 end
end
if #ARGV == 7 and ARGV[5] == 'q' then  -- one job, due now: schedule()'s fast path
  redis.call('RPUSH', P .. 'queue:' .. ARGV[6], ARGV[7])
  redis.call('PUBLISH', P .. 'notify', 'q:' .. ARGV[6])
  return 1
end
local pushes = new_pushes()
for i = 5, #ARGV, 3 do
  if ARGV[i] == 'q' then
    queue_job(pushes, ARGV[i + 1], ARGV[i + 2])
  else
    defer_job(pushes, ARGV[i + 1], ARGV[i + 2])
  end
end
push_all(pushes, KEYS[1])
publish()
return 1
