-- Check, and unless previewing consume, every fatigue window of one post, atomically.
--
-- KEYS[1] ready sentinel  (missing: state lost, rebuild first -> {"status":"cold"})
-- KEYS[2] post marker     (present: this post was already consumed -> its stored result)
-- KEYS[3] sender's commercial posts  (sorted set: member post id, score time in µs)
-- KEYS[4] sender's posts, all kinds  (same)
-- KEYS[4+i] recipient i's commercial exposures, across the brand's senders (same)
-- All keys share the brand's hash tag, so the call runs on one Redis Cluster slot.
--
-- ARGV: mode ("consume"|"preview"), now, post id, commercial (1|0), day start, window,
--       sender daily cap, sender window cap, minimum gap, commercial share max, ttl (ms),
--       then per recipient i: id, daily budget, window budget.  Times in µs; -1 = rule off.
-- Windows: the day is [day start, +inf); the rolling window is (now - window, +inf).
local preview = ARGV[1] == 'preview'
local now = tonumber(ARGV[2])
local post = ARGV[3]
local commercial = ARGV[4] == '1'
local day_start = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local s_day = tonumber(ARGV[7])
local s_week = tonumber(ARGV[8])
local gap = tonumber(ARGV[9])
local share = tonumber(ARGV[10])
local ttl = tonumber(ARGV[11])
local HEAD = 11

if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({status = 'cold'})
end
local done = redis.call('GET', KEYS[2])
if done then
  return done
end

local function num(x)
  return string.format('%.0f', x)
end
local day_min = num(day_start)
local win_min = '(' .. num(now - window)
local cutoff = num(now - window)

local function refuse(rule, count, cap, retry_at)
  return cjson.encode({status = 'rejected', rule = rule, count = count, cap = cap,
                       retry_at = retry_at})
end

if commercial then
  local c_week = redis.call('ZCOUNT', KEYS[3], win_min, '+inf')
  if s_day >= 0 then
    local c_day = redis.call('ZCOUNT', KEYS[3], day_min, '+inf')
    if c_day >= s_day then return refuse('sender_daily_cap', c_day, s_day) end
  end
  if s_week >= 0 and c_week >= s_week then
    return refuse('sender_weekly_cap', c_week, s_week)
  end
  if share >= 0 then
    local all = redis.call('ZCOUNT', KEYS[4], win_min, '+inf')
    if (c_week + 1) / (all + 1) > share + 1e-12 then
      return refuse('sender_commercial_share', c_week + 1, all + 1)
    end
  end
  if gap >= 0 then
    local last = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if last[2] and now < tonumber(last[2]) + gap then
      return refuse('sender_min_gap', 1, 1, num(tonumber(last[2]) + gap))
    end
  end
end

local n = (#ARGV - HEAD) / 3
local refused = {}
local admitted = {}
for i = 1, n do
  local key = KEYS[4 + i]
  local base = HEAD + 3 * (i - 1)
  local d = tonumber(ARGV[base + 2])
  local w = tonumber(ARGV[base + 3])
  local code = nil
  if d >= 0 and redis.call('ZCOUNT', key, day_min, '+inf') >= d then
    code = 'recipient_daily_cap'
  elseif w >= 0 and redis.call('ZCOUNT', key, win_min, '+inf') >= w then
    code = 'recipient_weekly_cap'
  end
  if code then
    refused[ARGV[base + 1]] = code
  else
    admitted[#admitted + 1] = key
  end
end

local result = {status = 'admitted', admitted = #admitted, refused = refused}
if preview then
  return cjson.encode(result)
end

local function record(key)
  redis.call('ZADD', key, ARGV[2], post)  -- the string: tostring(now) keeps 14 digits
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  redis.call('PEXPIRE', key, ttl)
end
for _, key in ipairs(admitted) do
  record(key)
end
record(KEYS[4])
if commercial then
  record(KEYS[3])
end
result.replayed = true
redis.call('SET', KEYS[2], cjson.encode(result), 'PX', ttl)
result.replayed = false
return cjson.encode(result)
