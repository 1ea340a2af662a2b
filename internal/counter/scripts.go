package counter

import "github.com/redis/go-redis/v9"

// The scripts share one prelude. Times are microseconds: Lua numbers are
// doubles, exact up to 2^53, which holds Unix microseconds for the next
// 280 years but not nanoseconds. Numbers written back to Redis go through
// string.format("%d") because tostring keeps only 14 digits.
//
// A bucket is a string key holding its TAT (see gcra.go) with a TTL that
// ends when the bucket is full again. A quota is a hash {p: period start
// in seconds, n: count} that expires at the period's end; a count whose p
// is not the current period's start counts as 0.
//
// ARGV[1] is the time: "" means the server's TIME, so that every gateway
// node sees one clock and skew between nodes cannot refill a bucket
// early.
const prelude = `
-- With the caller's clock (tests), TTLs run on the server's clock all the
-- same: give them an hour's grace so that a key never expires early.
local grace = 0
if ARGV[1] ~= "" then grace = 3600000 end

local function now_us()
  if ARGV[1] ~= "" then return tonumber(ARGV[1]) end
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- period returns the start and end, in Unix seconds, of the UTC hour, day
-- or month holding now. Months use H. Hinnant's civil_from_days.
local function period(now, kind)
  local s = math.floor(now / 1000000)
  if kind == "h" then
    local st = s - s % 3600
    return st, st + 3600
  end
  local days = math.floor(s / 86400)
  if kind == "d" then return days * 86400, (days + 1) * 86400 end
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  local len = ({31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31})[m]
  if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then len = 29 end
  local st = (days - d + 1) * 86400
  return st, st + len * 86400
end

local function quota_count(key, st)
  local v = redis.call("HMGET", key, "p", "n")
  if tonumber(v[1]) == st then return tonumber(v[2]) or 0 end
  return 0
end

-- put_quota stores a count; it expires at the period's end, given as a
-- TTL so that it follows the clock the script runs on.
local function put_quota(key, st, en, n, now)
  redis.call("HSET", key, "p", string.format("%d", st), "n", string.format("%d", n))
  redis.call("PEXPIRE", key, string.format("%d", math.max(1, math.ceil((en * 1000000 - now) / 1000)) + grace))
end

local function put_tat(key, tat, now)
  if tat <= now then
    redis.call("DEL", key)
  else
    redis.call("SET", key, string.format("%d", tat), "PX", string.format("%d", math.ceil((tat - now) / 1000) + grace))
  end
end

local function get_tat(key, now)
  local tat = tonumber(redis.call("GET", key) or "0")
  if tat < now then return now end
  return tat
end
`

// decideScript is one exact decision.
//
// KEYS: the buckets, then the quota when ARGV[3] > 0.
// ARGV: now, buckets, quota limit, quota period (h|d|m), then per bucket
// its interval (µs) and burst.
// Returns: allowed, reason (1 rate, 2 quota), refusing bucket (1-based),
// retry (µs), quota remaining, quota reset (µs), then per bucket
// remaining and reset (µs).
var decideScript = redis.NewScript(prelude + `
local now = now_us()
local nb = tonumber(ARGV[2])
local qlimit = tonumber(ARGV[3])
local ok, reason, worst, retry = 1, 0, 0, 0
local tats, ts, spans = {}, {}, {}
for i = 1, nb do
  local t = tonumber(ARGV[3 + 2 * i])
  local span = t * tonumber(ARGV[4 + 2 * i])
  local tat = get_tat(KEYS[i], now)
  tats[i], ts[i], spans[i] = tat, t, span
  if tat + t - now > span then
    ok, reason = 0, 1
    local w = tat + t - span - now
    if worst == 0 or w > retry then worst, retry = i, w end
  end
end
local qrem, qreset = 0, 0
if qlimit > 0 then
  local key = KEYS[nb + 1]
  local st, en = period(now, ARGV[4])
  local n = quota_count(key, st)
  qreset = en * 1000000 - now
  if n >= qlimit then
    ok, reason, worst, retry = 0, 2, 0, qreset
  elseif ok == 1 then
    n = n + 1
    put_quota(key, st, en, n, now)
  end
  qrem = qlimit - n
end
local out = {ok, reason, worst, retry, qrem, qreset}
for i = 1, nb do
  local tat, t, span = tats[i], ts[i], spans[i]
  if ok == 1 then
    tat = tat + t
    put_tat(KEYS[i], tat, now)
  end
  out[5 + 2 * i] = math.max(0, math.floor((span - (tat - now)) / t))
  out[6 + 2 * i] = math.max(0, tat + t - span - now)
end
return out
`)

// refundScript gives back what decideScript took, when a decision whose
// keys span several Cluster slots was refused by another slot.
//
// KEYS: the buckets, then the quota when ARGV[3] is 1.
// ARGV: now, buckets, has quota, quota period, then per bucket its interval.
var refundScript = redis.NewScript(prelude + `
local now = now_us()
local nb = tonumber(ARGV[2])
for i = 1, nb do
  local tat = tonumber(redis.call("GET", KEYS[i]) or "0")
  if tat > now then put_tat(KEYS[i], tat - tonumber(ARGV[4 + i]), now) end
end
if ARGV[3] == "1" then
  local key = KEYS[nb + 1]
  local st, en = period(now, ARGV[4])
  local n = quota_count(key, st)
  if n > 0 then put_quota(key, st, en, n - 1, now) end
end
return 1
`)

// leaseScript hands a batched node a lease: tokens reserved in GCRA order
// (possibly in the future, which the node then paces) and quota units.
//
// KEYS: the buckets, then the quota when ARGV[3] > 0.
// ARGV: now, buckets, quota limit, quota period, quota units wanted, then
// per bucket its interval (µs), burst and tokens wanted.
// Returns: quota units granted, quota remaining, quota reset (µs), quota
// period start (s), then per bucket: the reservation's start relative to
// now (µs), the tokens granted, the TAT after the lease (µs, absolute, to
// give unused tokens back), and the tokens left in the shared bucket.
var leaseScript = redis.NewScript(prelude + `
local now = now_us()
local nb = tonumber(ARGV[2])
local qlimit = tonumber(ARGV[3])
local out = {0, 0, 0, 0}
if qlimit > 0 then
  local key = KEYS[nb + 1]
  local st, en = period(now, ARGV[4])
  local n = quota_count(key, st)
  local grant = math.max(0, math.min(tonumber(ARGV[5]), qlimit - n))
  if grant > 0 then put_quota(key, st, en, n + grant, now) end
  out = {grant, qlimit - n - grant, en * 1000000 - now, st}
end
for i = 1, nb do
  local t = tonumber(ARGV[3 + 3 * i])
  local span = t * tonumber(ARGV[4 + 3 * i])
  local want = tonumber(ARGV[5 + 3 * i])
  local tat = get_tat(KEYS[i], now)
  local after = tat + want * t
  put_tat(KEYS[i], after, now)
  out[1 + 4 * i] = tat - now
  out[2 + 4 * i] = want
  out[3 + 4 * i] = after
  out[4 + 4 * i] = math.max(0, math.floor((span - (after - now)) / t))
end
return out
`)

// returnScript gives a batched node's unused lease back.
//
// For a bucket (ARGV[2] "b"): ARGV[3] is the TAT the lease left, ARGV[4]
// the unused tokens, ARGV[5] the interval. The tokens go back only when no
// one has taken any since (the TAT is unchanged): then subtracting them is
// exactly as if they had never been taken. Otherwise they lapse.
//
// For a quota ("q"): ARGV[3] is the period start, ARGV[4] the unused
// units, given back while the period lasts.
var returnScript = redis.NewScript(prelude + `
local now = now_us()
if ARGV[2] == "b" then
  local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
  if tat ~= tonumber(ARGV[3]) then return 0 end
  put_tat(KEYS[1], math.max(now, tat - tonumber(ARGV[4]) * tonumber(ARGV[5])), now)
  return 1
end
local st, en = period(now, ARGV[5])
if tonumber(ARGV[3]) ~= st then return 0 end
local n = quota_count(KEYS[1], st)
put_quota(KEYS[1], st, en, math.max(0, n - tonumber(ARGV[4])), now)
return 1
`)
