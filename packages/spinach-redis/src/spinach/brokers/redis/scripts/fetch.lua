-- Take up to N runnable jobs from queues in priority order (see fetch() and
-- fetch_queues() in _common.lua).
-- KEYS[1]: the first queue (list); KEYS[2]: this worker's running jobs (hash);
-- KEYS[3]: workers (zset); KEYS[4]...: the other queues, in order
-- ARGV: prefix, now, worker id, max jobs, queue names (separated by spaces),
-- most payloads to look at per queue, most bytes to take, largest payload
-- (larger ones are set aside), the worker's rate limits (see parse_rates)
-- Returns {-1} if this worker is not registered (see exchange.lua).
if not redis.call('ZSCORE', KEYS[3], ARGV[3]) then return {-1} end
local out = fetch_queues(KEYS[1], 4, KEYS[2], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]), parse_rates(ARGV[9]))
publish()
return out
