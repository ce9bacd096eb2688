--[[
  Claims (chat, client_id) for a new message id and writes that id's pending record, in one
  atomic round trip. A retry gets the first claim's value back instead and writes nothing. Time
  stands still inside a script, so the claim cannot expire between the SET and the GET.
  (src/domain/messages.ts)

  Input:
    KEYS[1] the idempotency key of (chat, client_id)
    KEYS[2] the new id's pending key (same slot: both carry the {messages} tag on a cluster)

    ARGV[1] the claim (JSON: id, sender_id)
    ARGV[2] the pending record (JSON)
    ARGV[3] the claim's TTL (s)
    ARGV[4] the pending record's TTL (s)

  Output: false when claimed now; else the earlier claim
]]
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4], 'NX')
  return false
end
return redis.call('GET', KEYS[1])
