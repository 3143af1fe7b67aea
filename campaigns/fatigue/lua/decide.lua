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
--       then the recipients' budgets (see below).  Times in µs; -1 = rule off.
-- Answer (JSON): {"status": "cold"} | {"status": "rejected", "rule", "count", "cap",
--   "retry_at"} | {"status": "admitted", "admitted": n, "refused": n, "codes": "..dw."}
--   with one character per recipient: "." admitted, "d" daily budget, "w" window budget.
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

-- ARGV[HEAD + 1]: two bytes per recipient, daily budget + 1 and window budget + 1 (0: off).
-- One read per recipient: its newest max(d, w) exposures. The day holds ≥ d of them iff the
-- d-th newest is at or after the day start; the window holds ≥ w iff the w-th newest is
-- after now - window.
local budgets = ARGV[HEAD + 1] or ''
local n = #KEYS - 4
local codes = {}
local admitted = {}
local refused = 0
local second = math.floor(now / 1000000)
local oldest = now - window
for i = 1, n do
  local key = KEYS[4 + i]
  local d = string.byte(budgets, 2 * i - 1) - 1
  local w = string.byte(budgets, 2 * i) - 1
  local code = '.'
  if d == 0 then
    code = 'd'
  elseif w == 0 then
    code = 'w'
  elseif d > 0 or w > 0 then
    local top = redis.call('ZREVRANGE', key, 0, math.max(d, w) - 1, 'WITHSCORES')
    if d > 0 and top[2 * d] and tonumber(top[2 * d]) >= day_start then
      code = 'd'
    elseif w > 0 and top[2 * w] and tonumber(top[2 * w]) > oldest then
      code = 'w'
    end
  end
  codes[i] = code
  if code == '.' then
    admitted[#admitted + 1] = i
  else
    refused = refused + 1
  end
end
local result = {status = 'admitted', admitted = #admitted, refused = refused,
                codes = table.concat(codes)}
if preview then
  return cjson.encode(result)
end

local function record(key, trim)
  redis.call('ZADD', key, ARGV[2], post)  -- the string: tostring(now) keeps 14 digits
  if trim then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  end
  redis.call('PEXPIRE', key, ttl)
end
-- Entries older than the window never count (every count is a range); they are trimmed on
-- about one write in four per recipient, and with the key once it goes idle for its TTL.
for _, i in ipairs(admitted) do
  record(KEYS[4 + i], (i + second) % 4 == 0)
end
record(KEYS[4], true)
if commercial then
  record(KEYS[3], true)
end
result.replayed = true
redis.call('SET', KEYS[2], cjson.encode(result), 'PX', ttl)
result.replayed = false
return cjson.encode(result)
