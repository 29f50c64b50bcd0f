-- Stage one chunk of a batch too large for one bounded call (see commit_batch.lua).
-- KEYS[1]: the batch's staged jobs (list); KEYS[2]: the batch's record (hash)
-- ARGV: prefix, now, chunk index (from 0), ttl_ms, then (kind, target, payload)...
-- Staged jobs are invisible to workers, and vanish with the TTL unless the
-- batch is committed: a producer that dies while staging enqueues nothing.
-- Chunks are staged in order; a retried chunk (its reply lost) is not staged
-- twice. Returns 1, or 0 for a chunk staged already.
local staged = tonumber(redis.call('HGET', KEYS[2], 'chunks') or '0') or 0
local index = tonumber(ARGV[3])
if staged > index then return 0 end
if staged < index then
  return redis.error_reply('ERR chunk ' .. index .. ' of a batch staged after ' .. staged .. ' chunks')
end
local entries = {}
for i = 5, #ARGV, 3 do
  entries[#entries + 1] = ARGV[i] .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2]
end
chunked('RPUSH', KEYS[1], entries)
redis.call('HSET', KEYS[2], 'chunks', index + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
