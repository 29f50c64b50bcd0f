-- Record the outcome of finished jobs (see acknowledge() in _common.lua).
-- KEYS[1]: this worker's running jobs (hash); KEYS[2]: future jobs (zset)
-- ARGV: prefix, now, worker id, most failed jobs kept, seconds they are kept,
-- then (job id, outcome, target, payload, error)...
local failed = {ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])}
local settled = acknowledge(KEYS[1], KEYS[2], 6, #ARGV, failed)
publish()
return settled
