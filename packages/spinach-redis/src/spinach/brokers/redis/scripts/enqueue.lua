-- Enqueue jobs, all or none.
-- KEYS[1]: future jobs (zset)
-- ARGV: prefix, now, producer, sequence, ttl_ms, then (kind, target, payload)...
--   kind 'q': due now, target is the queue;
--   kind 'a': target is the start timestamp: queued now if due by the
--   server's clock, else kept with the future jobs (never early, whatever
--   the producer's clock says).
-- A unique job (unique_of) whose key a live job holds is not enqueued: its
-- status is 'W', 'Q' or 'R' (the holder waiting, queued or running), and
-- the holders' ids follow, in order. Jobs of one call take keys in order, so
-- the second of two jobs with one key in a batch is the first's duplicate.
-- A producer's sequence number makes a retried call idempotent: a call whose
-- reply was lost is not applied twice. Returns 0 if it was applied already,
-- else a string with 'q' (queued) or 'w' (waiting) for each job, or, if any
-- job was a duplicate, {that string, holder ids...}.
-- The reply of a call with unique jobs is kept with the sequence number, and
-- a retry gets it again: which jobs were duplicates is told by what the
-- first attempt did, not guessed from the keys as they are now.
if ARGV[3] ~= '' then
  local last = tonumber(redis.call('SET', P .. 'idem:' .. ARGV[3], ARGV[4], 'GET', 'PX', ARGV[5]))
  if last and last >= tonumber(ARGV[4]) then
    local kept = last == tonumber(ARGV[4]) and redis.call('GET', P .. 'idem:' .. ARGV[3] .. ':reply')
    if not kept then return 0 end
    local words = {}
    for word in string.gmatch(kept, '%S+') do words[#words + 1] = word end
    if words[1] ~= ARGV[4] or not words[2] then return 0 end
    if #words == 2 then return words[2] end
    table.remove(words, 1)
    return words
  end
end
if #ARGV == 8 and ARGV[6] == 'q' and not unique_of(ARGV[8]) then  -- schedule()'s fast path
  local key = P .. 'queue:' .. ARGV[7]
  if redis.call('RPUSH', key, ARGV[8]) == 1 then redis.call('SADD', P .. 'queues', ARGV[7]) end
  if track_of(ARGV[8]) then record_stored(ARGV[8], 2, clock()) end
  redis.call('PUBLISH', P .. 'notify', 'q:' .. ARGV[7])
  return 'q'
end
local now = clock()
local pushes = new_pushes()
local statuses, holders, unique = {}, {}, false
local HELD = {['1'] = 'W', ['2'] = 'Q', ['3'] = 'R'}
for i = 6, #ARGV, 3 do
  local at = ARGV[i] == 'a' and tonumber(ARGV[i + 1])
  local digest = unique_of(ARGV[i + 2])
  local holder, status
  if digest then
    unique = true
    holder, status = claim_unique(digest, string.sub(ARGV[i + 2], 8, 39))
  end
  if holder then
    statuses[#statuses + 1] = HELD[status]
    holders[#holders + 1] = holder
  elseif at and at > now then
    defer_job(pushes, ARGV[i + 1], ARGV[i + 2])
    statuses[#statuses + 1] = 'w'
    if track_of(ARGV[i + 2]) then record_stored(ARGV[i + 2], 1, now, nil, at - now) end
  else
    local queue = ARGV[i + 1]
    if ARGV[i] == 'a' then
      local _, _, parsed = parse_head(ARGV[i + 2])
      queue = parsed
    end
    if queue then
      queue_job(pushes, queue, ARGV[i + 2])
      if track_of(ARGV[i + 2]) then record_stored(ARGV[i + 2], 2, now) end
    else
      reject(ARGV[i + 2])
    end
    statuses[#statuses + 1] = 'q'
  end
end
push_all(pushes, KEYS[1])
publish()
if unique and ARGV[3] ~= '' then
  redis.call('SET', P .. 'idem:' .. ARGV[3] .. ':reply',
    ARGV[4] .. ' ' .. table.concat(statuses) .. ' ' .. table.concat(holders, ' '), 'PX', ARGV[5])
end
if #holders > 0 then
  local reply = {table.concat(statuses)}
  for _, holder in ipairs(holders) do reply[#reply + 1] = holder end
  return reply
end
return table.concat(statuses)
