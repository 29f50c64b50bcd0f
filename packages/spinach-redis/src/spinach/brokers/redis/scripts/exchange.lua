-- A worker's cycle in one round trip: record the outcome of the jobs it
-- finished, then take up to N new jobs (see _common.lua).
-- KEYS[1]: the queue (list); KEYS[2]: this broker's running jobs (hash);
-- KEYS[3]: future jobs (zset)
-- ARGV: prefix, max jobs, queue name, most payloads to look at, then
-- (job id, outcome, target, payload) of each finished job
acknowledge(KEYS[2], KEYS[3], 5, #ARGV)
local out = {0}
if tonumber(ARGV[2]) > 0 then
  out = fetch(KEYS[1], KEYS[2], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]))
end
publish()
return out
