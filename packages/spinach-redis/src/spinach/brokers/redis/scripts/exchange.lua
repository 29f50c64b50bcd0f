-- A worker's cycle in one round trip: record the outcome of the jobs it
-- finished, then take up to N new jobs (see _common.lua).
-- KEYS[1]: the first queue (list); KEYS[2]: this worker's running jobs (hash);
-- KEYS[3]: future jobs (zset); KEYS[4]: workers (zset); KEYS[5]...: the other
-- queues, in priority order
-- ARGV: prefix, now, worker id, max jobs, queue names (separated by spaces),
-- most payloads to look at per queue, most bytes to take, largest payload,
-- the worker's rate limits (see parse_rates), most failed jobs kept, seconds
-- they are kept, then (job id, outcome, target, payload, error) of each
-- finished job
-- A worker no longer registered (declared dead) fetches nothing: nobody would
-- recover what it took. Returns {-1} then, else what fetch() returns.
acknowledge(KEYS[2], KEYS[3], 12, #ARGV, {ARGV[3], tonumber(ARGV[10]), tonumber(ARGV[11])})
local out = {0}
if tonumber(ARGV[4]) > 0 then
  if not redis.call('ZSCORE', KEYS[4], ARGV[3]) then
    out = {-1}
  else
    out = fetch_queues(KEYS[1], 5, KEYS[2], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]),
      tonumber(ARGV[7]), tonumber(ARGV[8]), parse_rates(ARGV[9]))
  end
end
publish()
return out
