--[[
  Remembers a user's last write position on the primary, keeping the higher of two (workers may
  record one user's writes out of order). Positions are fixed-width hex, so they compare as
  strings. (src/infra/replicas.ts)

  Input:
    KEYS[1] the user's mark

    ARGV[1] the WAL position (zero-padded hex)
    ARGV[2] TTL (s)

  Output: 1
]]
local cur = redis.call('GET', KEYS[1])
if not cur or ARGV[1] > cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) else redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
