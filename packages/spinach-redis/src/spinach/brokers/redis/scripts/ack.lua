-- Record the outcome of finished jobs (see acknowledge() in _common.lua).
-- KEYS[1]: this broker's running jobs (hash); KEYS[2]: future jobs (zset)
-- ARGV: prefix, then (job id, outcome, target, payload)...
local settled = acknowledge(KEYS[1], KEYS[2], 2, #ARGV)
publish()
return settled
