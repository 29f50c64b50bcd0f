-- Take up to N runnable jobs from a queue (see fetch() in _common.lua).
-- KEYS[1]: the queue (list); KEYS[2]: this broker's running jobs (hash)
-- ARGV: prefix, max jobs, queue name, most payloads to look at
local out = fetch(KEYS[1], KEYS[2], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]))
publish()
return out
