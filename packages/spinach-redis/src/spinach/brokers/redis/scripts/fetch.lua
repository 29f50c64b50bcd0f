-- Take up to N runnable jobs from a queue (see fetch() in _common.lua).
-- KEYS[1]: the queue (list); KEYS[2]: this worker's running jobs (hash);
-- KEYS[3]: workers (zset)
-- ARGV: prefix, now, worker id, max jobs, queue name, most payloads to look
-- at, most bytes to take, largest payload (larger ones are set aside)
-- Returns {-1} if this worker is not registered (see exchange.lua).
if not redis.call('ZSCORE', KEYS[3], ARGV[3]) then return {-1} end
local out = fetch(KEYS[1], KEYS[2], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]))
publish()
return out
