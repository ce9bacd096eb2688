--[[
  Drops a fanout process's lease on a user (or only sweeps expired ones). (src/domain/presence.ts)

  Input:
    KEYS[1] the user's lease set
    KEYS[2] the users index (same {presence} slot)

    ARGV[1] process id, or '' to only sweep
    ARGV[2] now (ms)
    ARGV[3] user id

  Output: 1 when no live lease is left (went offline; the user leaves the index), else 0
]]
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('ZREM', KEYS[2], ARGV[3])
end
return 0
