-- Set aside a running job whose payload turned out to be unreadable.
-- KEYS[1]: this worker's running jobs (hash)
-- ARGV: prefix, now, job id, why (the error, JSON)
local entry = redis.call('HGET', KEYS[1], ARGV[3])
if not entry then return 0 end
reject(string.sub(entry, 2), ARGV[4])
redis.call('HDEL', KEYS[1], ARGV[3])
if string.sub(entry, 1, 1) == '1' then
  local _, task = parse_head(string.sub(entry, 2))
  if task then release(task) end
end
publish()
return 1
