--[[
  XADDs events in order, each at most once per outbox id, and appends their membership changes
  to the users' logs, atomically, so the logs and the stream never disagree. (src/infra/events.ts)
  The number of keys varies: one membership log per change.

  Input:
    KEYS[1] the event stream
    KEYS[2] the published outbox ids (sorted set: id -> time)
    KEYS[3..] one membership log per change, in order (all in the stream's slot)

    ARGV[1] stream MAXLEN (approximate)
    ARGV[2] now (ms)
    ARGV[3] how long an outbox id is remembered (ms)
    ARGV[4] membership log MAXLEN
    ARGV[5] membership log TTL (s)
    then per event: outbox id ('' for none), event JSON, n, and n changes of
    (kind, chat id or '', workspace id)

  Output: each event's stream id, or false for an outbox id already published
]]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
local ids = {}
local i, k = 6, 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 2])
  local fresh = ARGV[i] == '' or redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[i]) == 1
  local id = false
  if fresh then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
    for j = 0, n - 1 do
      local c = i + 3 + j * 3
      -- pcall: a log left over from a wiped stream must not stop the event itself
      redis.pcall('XADD', KEYS[k + j], 'MAXLEN', '~', ARGV[4], id, 'k', ARGV[c], 'c', ARGV[c + 1], 'w', ARGV[c + 2])
      redis.call('EXPIRE', KEYS[k + j], ARGV[5])
    end
  end
  ids[#ids + 1] = id
  k = k + n
  i = i + 3 + n * 3
end
return ids
