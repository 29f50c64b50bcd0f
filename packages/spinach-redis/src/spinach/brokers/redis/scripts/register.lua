-- Register a worker: it heartbeats from now on, and its jobs are recovered
-- if it stops doing so. A fresh run of heartbeats starts now (see heartbeat.lua).
-- KEYS[1]: workers (zset id -> last heartbeat); KEYS[2]: this worker's record (hash)
-- ARGV: prefix, now, worker id, most failed jobs kept, seconds they are kept
-- (the bounds of the registry of failed jobs, for payloads set aside in any
-- script), then (field, value) pairs describing the worker
-- Returns {the time of the call}.
local now = clock()
redis.call('HSET', P .. 'failed_bounds', 'kept', ARGV[4], 'ttl', ARGV[5])
redis.call('ZADD', KEYS[1], num(now), ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'since', num(now), 'started', num(now))
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return {num(now)}
