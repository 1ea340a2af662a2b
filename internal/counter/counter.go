package counter

import (
	"context"
	"math"
	"time"
)

// Rate is a token bucket: Burst tokens, refilled Requests per Per.
type Rate struct {
	Requests int64
	Per      time.Duration
	Burst    int64
}

// interval returns the time one token takes to come back, in nanoseconds,
// rounded up: rounding must never admit more than the rate.
func (r Rate) interval() int64 {
	if r.Requests <= 0 || r.Per <= 0 {
		return math.MaxInt64 / 4
	}
	t := (int64(r.Per) + r.Requests - 1) / r.Requests
	return max(t, 1)
}

// intervalMicros is interval in whole microseconds, rounded up: the unit of
// time in Redis, where Lua numbers are doubles and nanosecond timestamps
// would lose precision.
func (r Rate) intervalMicros() int64 {
	return max((r.interval()+999)/1000, 1)
}

func (r Rate) burst() int64 { return max(r.Burst, 1) }

// Bucket is one token bucket a request faces.
type Bucket struct {
	// Tag is the identity the bucket counts for: a consumer ID, a client IP
	// or a header value. In Redis every key of one tag shares a Cluster
	// hash slot.
	Tag string
	// Name says which of the identity's buckets this is ("r:orders:ip",
	// "p:gold"). It must not contain '}'.
	Name string
	Rate Rate
}

// Period is the calendar period of a quota, in UTC.
type Period uint8

// The quota periods.
const (
	periodHour Period = iota + 1
	periodDay
	periodMonth
)

// ParsePeriod reads hour, day or month.
func ParsePeriod(s string) (Period, bool) {
	switch s {
	case "hour":
		return periodHour, true
	case "day":
		return periodDay, true
	case "month":
		return periodMonth, true
	}
	return 0, false
}

// String returns hour, day or month.
func (p Period) String() string {
	switch p {
	case periodHour:
		return "hour"
	case periodDay:
		return "day"
	case periodMonth:
		return "month"
	}
	return "invalid"
}

// Bounds returns the start and end of the period holding t, in UTC.
func (p Period) Bounds(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case periodHour:
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case periodDay:
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	default:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}

// Quota is a request allowance per calendar period, charged one per
// admitted request.
type Quota struct {
	// Tag and Name identify the counter, as for Bucket.
	Tag  string
	Name string
	// Limit is the allowance; 0 means the request has no quota.
	Limit int64
	Per   Period
}

// maxBuckets is how many buckets one decision can check.
const maxBuckets = 4

// Request is what one decision checks: up to maxBuckets buckets and an
// optional quota. It is a value with fixed-size storage so that building
// one and passing it through the Counter interface does not allocate.
type Request struct {
	Buckets [maxBuckets]Bucket
	// N is how many of Buckets are in use.
	N     int
	Quota Quota
}

// Add appends b; it reports false when the request is full.
func (r *Request) Add(b Bucket) bool {
	if r.N == maxBuckets {
		return false
	}
	r.Buckets[r.N] = b
	r.N++
	return true
}

// Reason says why a decision refused.
type Reason uint8

// The reasons a decision refuses.
const (
	reasonNone Reason = iota
	// reasonRate: a bucket had no token.
	reasonRate
	// ReasonQuota: the quota of the period is used up.
	ReasonQuota
	// reasonUnavailable: the counters could not be reached and on_failure
	// is deny.
	reasonUnavailable
)

// State describes one bucket or quota after a decision.
type State struct {
	// Limit is the bucket's burst, or the quota's allowance.
	Limit int64
	// Remaining is how many more requests would be admitted right now.
	Remaining int64
	// Reset is, for a bucket, the time until a token is available (0 when
	// Remaining > 0); for a quota, the time until the period ends.
	Reset time.Duration
}

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Bucket is the index of the refusing bucket when Reason is reasonRate.
	Bucket int
	// RetryAfter is, when refused, how long until the request could pass.
	RetryAfter time.Duration
	// Buckets holds the state of the request's buckets, in order.
	Buckets [maxBuckets]State
	// Quota is the quota's state, when the request had one.
	Quota State
	// Degraded is set when the counters could not be consulted and the
	// answer is the configured fallback (on_failure).
	Degraded bool
}

// Counter decides whether requests pass their buckets and quota.
// Implementations are safe for concurrent use.
type Counter interface {
	// Take checks every bucket of req and its quota at once: tokens are
	// taken only when every bucket has one, and the quota is charged only
	// when, in addition, it has room. It never blocks longer than the
	// driver's network timeout.
	Take(ctx context.Context, req Request) Decision
	// Admit checks req's buckets and quota as a token limit does, taking
	// nothing: it admits when every bucket holds at least one token and
	// the quota has room. Bucket states may have a negative Remaining.
	Admit(ctx context.Context, req Request) Decision
	// Spend takes n tokens from every bucket of req and adds n to its
	// quota, whatever they hold: a bucket can go below zero and then
	// refuses until it has refilled. A Spend that cannot reach the
	// counters is lost (see docs/llm.md). It never blocks longer than the
	// driver's network timeout.
	Spend(ctx context.Context, req Request, n int64)
	// Ping reports whether the counters are reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close stops background work and releases connections.
	Close() error
}

// FailureMode is what a decision answers when Redis cannot be reached.
type FailureMode uint8

// The failure modes.
const (
	FailAllow FailureMode = iota
	FailDeny
)

// parseFailureMode reads allow or deny (counters.on_failure).
func parseFailureMode(s string) (FailureMode, bool) {
	switch s {
	case "allow", "":
		return FailAllow, true
	case "deny":
		return FailDeny, true
	}
	return 0, false
}

// fallback is the decision under on_failure.
func fallback(m FailureMode) Decision {
	if m == FailDeny {
		return Decision{Reason: reasonUnavailable, RetryAfter: time.Second, Degraded: true}
	}
	return Decision{Allowed: true, Degraded: true}
}
