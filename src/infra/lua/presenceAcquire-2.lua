--[[
  Takes (or renews) a fanout process's lease on a user. (src/domain/presence.ts)

  Input:
    KEYS[1] the user's lease set (process id -> expiry ms)
    KEYS[2] the users index (user -> latest expiry ms; same {presence} slot)

    ARGV[1] process id
    ARGV[2] now (ms)
    ARGV[3] the lease's expiry (ms)
    ARGV[4] user id
    ARGV[5] lease length (ms)

  Output: 1 when the user had no live lease before (came online), else 0
]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[4])
if before == 0 then return 1 else return 0 end
