-- Heartbeat, and adopt the running jobs of dead workers, with proof only.
-- KEYS[1]: workers (zset id -> last heartbeat); KEYS[2]: this worker's running
-- jobs (hash); KEYS[3]: this worker's record (hash); KEYS[4]: periodic tasks
-- (zset token -> next due); KEYS[5]: their definitions (hash);
-- KEYS[6]: when a live worker last declared each of them (hash);
-- KEYS[7]: jobs this worker adopted and has not settled yet (hash);
-- KEYS[8]: the next due date of retired periodic tasks (hash);
-- KEYS[9]: concurrency limits (hash); KEYS[10]: when a live worker last
-- declared each limit (hash)
-- ARGV: prefix, now, this worker's id, dead threshold (s), longest gap between
-- two heartbeats of a connected worker (s), the number of this worker's
-- periodic tasks, then those tasks, then the tasks whose limit it declares
--
-- The rule (docs/internals.md, "Proof of death"): a worker is current while
-- its own heartbeats go through no further apart than the longest gap; it may
-- declare another worker dead only once it has been current for a whole
-- threshold, and only a worker silent for longer than the threshold. After
-- an outage of Redis (or a pause of this worker) nothing is taken over until
-- live workers have had a threshold to be heard from again. Time is the
-- server's: skewed clocks change nothing.
--
-- Adopted jobs go to a hash of their own, not to the running jobs: the
-- worker settles them from there (ack.lua on KEYS[7]), and every heartbeat
-- returns those still unsettled, so that a lost reply loses none and none is
-- taken for a job this worker fetched.
--
-- Returns {now, this worker's incarnation, dead worker ids joined by spaces,
-- {adopted entries not settled yet}, {ids of the jobs running here},
-- {retired periodic tasks}, {periodic tasks of this worker without a
-- definition}, {ids of the jobs running here whose cancel was requested}}.
-- The incarnation is the time the worker was (re)registered: a
-- worker no longer registered (declared dead by another worker, or Redis lost
-- its data) is registered again by this call, with a new incarnation.
local now = clock()
local me = ARGV[3]
local threshold, max_gap = tonumber(ARGV[4]), tonumber(ARGV[5])
local last = tonumber(redis.call('ZSCORE', KEYS[1], me))
local since = tonumber(redis.call('HGET', KEYS[3], 'since'))
local incarnation = redis.call('HGET', KEYS[3], 'started')
if not last or not incarnation then
  incarnation = num(now)
  redis.call('HSET', KEYS[3], 'started', incarnation)
end
if not last or not since or now - last > max_gap or since > now then since = now end
redis.call('ZADD', KEYS[1], num(now), me)
redis.call('HSET', KEYS[3], 'since', num(since))

local missing = {}
local periodic_end = 6 + tonumber(ARGV[6])
for i = 7, periodic_end do
  if redis.call('HEXISTS', KEYS[5], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[6], ARGV[i], num(now))
  else
    missing[#missing + 1] = ARGV[i]
  end
end
for i = periodic_end + 1, #ARGV do
  if safe_call('HEXISTS', KEYS[9], ARGV[i]) == 1 then safe_call('HSET', KEYS[10], ARGV[i], num(now)) end
end

local dead, retired = {}, {}
if now - since >= threshold then
  local limit = now - threshold
  -- Periodic tasks no live worker declared for a threshold are retired; their
  -- next due date is kept, so that a pool coming back keeps their grid.
  local seen = redis.call('HGETALL', KEYS[6])
  local known = {}
  for i = 1, #seen, 2 do
    local name, at = seen[i], tonumber(seen[i + 1])
    known[name] = true
    if not at or at < limit then
      local next_at = redis.call('ZSCORE', KEYS[4], name)
      if next_at then redis.call('HSET', KEYS[8], name, next_at) end
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
  -- Concurrency limits no live worker declared for a threshold are lifted.
  local declared = {}
  local limit_seen = safe_call('HGETALL', KEYS[10])
  for i = 1, #limit_seen, 2 do declared[limit_seen[i]] = tonumber(limit_seen[i + 1]) end
  for _, task in ipairs(safe_call('HKEYS', KEYS[9])) do
    local at = declared[task]
    if not at then
      safe_call('HSET', KEYS[10], task, num(now))  -- set before this existed: a grace period
    elseif at < limit then
      safe_call('HDEL', KEYS[9], task)
      safe_call('HDEL', KEYS[10], task)
      unpark(task)
    end
  end
  for _, broker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. num(limit))) do
    if broker ~= me then
      -- Its running jobs and those it adopted and never settled.
      for _, key in ipairs({P .. 'running:' .. broker, P .. 'adopted:' .. broker}) do
        local entries = safe_call('HGETALL', key)
        if #entries > 0 then chunked('HSET', KEYS[7], entries) end  -- the destination first
        redis.call('DEL', key)
        -- The starts of these attempts no longer hold their task's rate
        -- window: the next attempt does not wait a whole period for them.
        for i = 2, #entries, 2 do
          local payload = string.sub(entries[i], 2)
          local id, task = parse_head(payload)
          if task then redis.call('ZREM', P .. 'rate:' .. task, rate_member(id, payload)) end
        end
      end
      redis.call('DEL', P .. 'worker:' .. broker)
      redis.call('ZREM', KEYS[1], broker)
      dead[#dead + 1] = broker
    end
  end
end
local pending = {}
local adopted = safe_call('HGETALL', KEYS[7])
for i = 2, #adopted, 2 do pending[#pending + 1] = adopted[i] end
-- Running jobs whose cancel was requested: the notification may have been
-- lost (a reconnection), or have come before the job was known here.
local own = safe_call('HKEYS', KEYS[2])
local cancelled = {}
for _, id in ipairs(own) do
  if safe_call('HGET', P .. 'job:' .. id, 'cancel') == '1' then cancelled[#cancelled + 1] = id end
end
return {num(now), incarnation, table.concat(dead, ' '), pending, own, retired, missing,
        cancelled}
