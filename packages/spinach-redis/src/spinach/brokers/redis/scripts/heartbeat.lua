-- Heartbeat, and adopt the running jobs of dead workers, with proof only.
-- KEYS[1]: workers (zset id -> last heartbeat); KEYS[2]: this worker's running
-- jobs (hash); KEYS[3]: this worker's record (hash); KEYS[4]: periodic tasks
-- (zset token -> next due); KEYS[5]: their definitions (hash);
-- KEYS[6]: when a live worker last declared each of them (hash)
-- ARGV: prefix, now, this worker's id, dead threshold (s), longest gap between
-- two heartbeats of a connected worker (s), then this worker's periodic tasks
--
-- The rule (docs/internals.md, "Proof of death"): a worker is current while
-- its own heartbeats go through no further apart than the longest gap; it may
-- declare another worker dead only once it has been current for a whole
-- threshold, and only a worker silent for longer than the threshold. After
-- an outage of Redis (or a pause of this worker) nothing is taken over until
-- live workers have had a threshold to be heard from again. Time is the
-- server's: skewed clocks change nothing.
--
-- Returns {now, registered, dead worker ids joined by spaces, {adopted
-- entries}, {ids of the jobs running here}, {retired periodic tasks},
-- {periodic tasks of this worker without a definition}}; registered is 0 when
-- this worker was no longer registered (declared dead by another worker, or
-- Redis lost its data): it is registered again by this call.
local now = clock()
local me = ARGV[3]
local threshold, max_gap = tonumber(ARGV[4]), tonumber(ARGV[5])
local last = tonumber(redis.call('ZSCORE', KEYS[1], me))
local since = tonumber(redis.call('HGET', KEYS[3], 'since'))
local registered = 1
if not last then
  registered = 0
  redis.call('HSET', KEYS[3], 'started', num(now))
end
if not last or not since or now - last > max_gap or since > now then since = now end
redis.call('ZADD', KEYS[1], num(now), me)
redis.call('HSET', KEYS[3], 'since', num(since))

local missing = {}
for i = 6, #ARGV do
  if redis.call('HEXISTS', KEYS[5], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[6], ARGV[i], num(now))
  else
    missing[#missing + 1] = ARGV[i]
  end
end

local dead, adopted, retired = {}, {}, {}
if now - since >= threshold then
  local limit = now - threshold
  -- Periodic tasks no live worker declared for a threshold are retired.
  local seen = redis.call('HGETALL', KEYS[6])
  local known = {}
  for i = 1, #seen, 2 do
    local name, at = seen[i], tonumber(seen[i + 1])
    known[name] = true
    if not at or at < limit then
      redis.call('HDEL', KEYS[5], name)
      redis.call('HDEL', KEYS[6], name)
      redis.call('ZREM', KEYS[4], name)
      retired[#retired + 1] = name
    end
  end
  for _, name in ipairs(redis.call('HKEYS', KEYS[5])) do
    if not known[name] then  -- declared before retirement existed: a grace period
      redis.call('HSET', KEYS[6], name, num(now))
    end
  end
  for _, broker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. num(limit))) do
    if broker ~= me then
      local key = P .. 'running:' .. broker
      local entries = redis.call('HGETALL', key)
      if #entries > 0 then
        chunked('HSET', KEYS[2], entries)  -- the destination first, then the source
        for i = 2, #entries, 2 do adopted[#adopted + 1] = entries[i] end
      end
      redis.call('DEL', key)
      redis.call('DEL', P .. 'worker:' .. broker)
      redis.call('ZREM', KEYS[1], broker)
      dead[#dead + 1] = broker
    end
  end
end
return {num(now), registered, table.concat(dead, ' '), adopted, redis.call('HKEYS', KEYS[2]),
        retired, missing}
