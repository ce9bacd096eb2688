--[[
  Copies access changes to the changes stream, and each workspace join to its user's joins log
  (entry id = the change's id in the changes stream), atomically. (src/infra/events.ts)
  The number of keys varies: one joins log per workspace join.

  Input:
    KEYS[1] the changes stream
    KEYS[2..] one joins log per join, in order (all in the changes stream's slot)

    ARGV[1] changes stream MAXLEN (approximate)
    ARGV[2] joins log MAXLEN
    ARGV[3] joins log TTL (s)
    then per change: event JSON, shard, the shard's position before the event, n (0 or 1 joins)

  Output: the number of changes added
]]
local k = 2
local i = 4
local added = 0
while i <= #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i], 's', ARGV[i + 1], 'p', ARGV[i + 2])
  added = added + 1
  for j = 0, tonumber(ARGV[i + 3]) - 1 do
    redis.call('XADD', KEYS[k + j], 'MAXLEN', '~', ARGV[2], id, 's', ARGV[i + 1], 'p', ARGV[i + 2])
    redis.call('EXPIRE', KEYS[k + j], ARGV[3])
  end
  k = k + tonumber(ARGV[i + 3])
  i = i + 4
end
return added
