package counter

import "math"

// gcra is the arithmetic of one bucket, the generic cell rate algorithm:
// instead of a token count the bucket stores a theoretical arrival time
// (TAT), the moment it would be full again. A request at now is admitted
// when, after adding one emission interval t, the TAT lies no further
// than span = burst·t ahead of now. One number per bucket, no refill loop,
// and no double burst at window edges because there are no windows.
//
// Times are int64 in one unit (nanoseconds in memory, microseconds in the
// batched driver's local leases); a stored TAT below now means "full".
type gcra struct{ t, span int64 }

// farAway bounds spans so that TAT arithmetic cannot overflow.
const farAway = math.MaxInt64 / 4

func newGCRA(r Rate) gcra { return gcraOf(r.interval(), r.burst()) }

// gcraOf is the bucket of burst b whose tokens come back every t, in t's
// unit.
func gcraOf(t, b int64) gcra {
	span := int64(farAway)
	if b <= span/t {
		span = b * t
	}
	return gcra{t: t, span: span}
}

// admit returns the TAT after taking one token at now, and whether a token
// was there. When it was not, the TAT is returned unchanged (clamped).
func (g gcra) admit(tat, now int64) (int64, bool) {
	tat = max(tat, now)
	next := tat + g.t
	if next-now > g.span {
		return tat, false
	}
	return next, true
}

// wait returns how long from now until a request would be admitted.
func (g gcra) wait(tat, now int64) int64 {
	return max(0, max(tat, now)+g.t-g.span-now)
}

// remaining returns how many requests would be admitted at now, one after
// the other.
func (g gcra) remaining(tat, now int64) int64 {
	return max(0, (g.span-(max(tat, now)-now))/g.t)
}
