--[[
  Announces message.created events unless the chat's high-water mark says they are out already,
  and moves the mark, atomically. A worker killed after its XADD but before setting published_at
  makes the next writer re-publish the row; the mark turns that into a no-op, so every message
  is announced exactly once. Events come in (chat, seq) order under the chat locks, so
  "seq <= mark" means "already announced". (src/domain/message-persist.ts)

  Input:
    KEYS[1] the event stream
    KEYS[2] the announced hash (chat id -> highest announced seq; same slot as the stream)

    ARGV[1] stream MAXLEN (approximate)
    ARGV[2..] (chat id, seq, event JSON) triples

  Output: how many events were added
]]
local added = 0
for i = 2, #ARGV, 3 do
  local seq = tonumber(ARGV[i + 1])
  if seq > tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0') then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 2])
    redis.call('HSET', KEYS[2], ARGV[i], seq)
    added = added + 1
  end
end
return added
