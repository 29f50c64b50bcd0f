-- Record the outcome of finished jobs (see acknowledge() in _common.lua).
-- KEYS[1]: this worker's running jobs (hash); KEYS[2]: future jobs (zset)
-- ARGV: prefix, now, then (job id, outcome, target, payload, error)...
local settled = acknowledge(KEYS[1], KEYS[2], 3, #ARGV)
publish()
return settled
