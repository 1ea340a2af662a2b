package counter

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// tokenScript checks (n = 0) or spends (n > 0) a token limit: the
// buckets and quota of decideScript, with Admit's and Spend's arithmetic.
// A spend moves a TAT at most ten years ahead.
//
// KEYS: the buckets, then the quota when ARGV[3] > 0.
// ARGV: now, buckets, quota limit, quota period, n, then per bucket its
// interval (µs) and burst.
// Returns decideScript's values; bucket remaining may be negative.
var tokenScript = redis.NewScript(prelude + `
local now = now_us()
local nb = tonumber(ARGV[2])
local qlimit = tonumber(ARGV[3])
local n = tonumber(ARGV[5])
local ok, reason, worst, retry = 1, 0, 0, 0
local rems, resets = {}, {}
for i = 1, nb do
  local t = tonumber(ARGV[4 + 2 * i])
  local span = t * tonumber(ARGV[5 + 2 * i])
  local tat = get_tat(KEYS[i], now)
  if n > 0 then
    tat = math.min(tat + n * t, now + 315360000000000)
    put_tat(KEYS[i], tat, now)
  elseif tat + t - now > span then
    ok, reason = 0, 1
    local w = tat + t - span - now
    if worst == 0 or w > retry then worst, retry = i, w end
  end
  rems[i] = math.floor((span - (tat - now)) / t)
  resets[i] = math.max(0, tat + t - span - now)
end
local qrem, qreset = 0, 0
if qlimit > 0 then
  local key = KEYS[nb + 1]
  local st, en = period(now, ARGV[4])
  local c = quota_count(key, st)
  qreset = en * 1000000 - now
  if n > 0 then
    c = c + n
    put_quota(key, st, en, c, now)
  elseif c >= qlimit then
    ok, reason, worst, retry = 0, 2, 0, qreset
  end
  qrem = qlimit - c
end
local out = {ok, reason, worst, retry, qrem, qreset}
for i = 1, nb do
  out[5 + 2 * i] = rems[i]
  out[6 + 2 * i] = resets[i]
end
return out
`)

// Admit checks req with one script, one round trip, in both sync modes:
// token limits are always exact.
func (r *Redis) Admit(ctx context.Context, req Request) Decision {
	if !r.br.up() {
		return fallback(r.mode)
	}
	out := Decision{Allowed: true}
	for _, p := range r.tokenParts(&req) {
		d, err := r.tokens(ctx, &req, p, 0)
		if err != nil {
			return r.failed(ctx, err)
		}
		merge(&out, &d, &req, p)
	}
	r.br.succeeded()
	return out
}

// Spend takes n tokens with one script per Cluster slot. While Redis is
// unreachable the tokens are not counted.
func (r *Redis) Spend(ctx context.Context, req Request, n int64) {
	if n <= 0 || !r.br.up() {
		return
	}
	for _, p := range r.tokenParts(&req) {
		if _, err := r.tokens(ctx, &req, p, n); err != nil {
			r.failed(ctx, err)
			return
		}
	}
	r.br.succeeded()
}

// tokenParts splits req by Cluster slot, or not at all.
func (r *Redis) tokenParts(req *Request) []part {
	if r.split {
		parts, n := byTag(req, allOf(req))
		return parts[:n]
	}
	return []part{allOf(req)}
}

// tokens runs tokenScript over part p of req, spending n tokens (0:
// only check).
func (r *Redis) tokens(ctx context.Context, req *Request, p part, n int64) (Decision, error) {
	return r.run(ctx, tokenScript, req, p, &n)
}
