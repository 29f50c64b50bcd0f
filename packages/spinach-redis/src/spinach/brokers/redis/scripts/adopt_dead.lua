-- Heartbeat, and adopt the running jobs of workers silent for too long.
-- KEYS[1]: workers (zset id -> last heartbeat); KEYS[2]: this broker's running jobs
-- ARGV: prefix, this broker's id, now, dead threshold in seconds
-- Adoption is atomic, so the jobs of a dead worker are taken once, by the
-- first live worker to notice; it then settles them as finished jobs.
-- Returns {dead worker ids joined by spaces, {adopted entries}, {ids running here}}.
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local limit = num(tonumber(ARGV[3]) - tonumber(ARGV[4]))
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. limit)
local adopted, ids = {}, {}
for _, broker in ipairs(dead) do
  if broker ~= ARGV[2] then
    local key = P .. 'running:' .. broker
    local entries = redis.call('HGETALL', key)
    if #entries > 0 then
      chunked('HSET', KEYS[2], entries)
      for i = 2, #entries, 2 do adopted[#adopted + 1] = entries[i] end
    end
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], broker)
    ids[#ids + 1] = broker
  end
end
return {table.concat(ids, ' '), adopted, redis.call('HKEYS', KEYS[2])}
