-- Forget failed jobs.
-- KEYS[1]: the registry of failed jobs (zset id -> failed_at)
-- ARGV: prefix, now, then the ids of the jobs
-- Returns how many were listed in the registry.
local purged = 0
for i = 3, #ARGV do
  purged = purged + safe_call('ZREM', KEYS[1], ARGV[i])
  redis.call('DEL', P .. 'failed:' .. ARGV[i])
end
return purged
