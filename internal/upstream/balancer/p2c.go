package balancer

import (
	"math"
	"net/http"
)

// newP2C returns the p2c_ewma Picker, Finagle's and Linkerd's "power of two
// choices" over a peak-EWMA latency: pick two distinct members at random
// and send to the one with the lower load, where load is the member's cost
// (latency estimate) times its in-flight attempts plus one. Two random
// choices avoid the herd behaviour of always taking the global best, and
// the in-flight factor reacts before the latency average does. Weights are
// ignored.
func newP2C(members []Member) Picker { return &p2c{members: members} }

type p2c struct{ members []Member }

// penalty is the load of a member with no latency estimate yet but requests
// in flight, as in Finagle's PeakEwma: large, so measured members win, but
// ordered by in-flight count.
const penalty = math.MaxInt64 >> 16

func load(b Backend) float64 {
	cost, n := b.Cost(), b.InFlight()
	if cost == 0 && n != 0 {
		return penalty + float64(n)
	}
	return cost * float64(n+1)
}

func (p *p2c) Pick(_ *http.Request, tried Tried) int {
	count := 0
	for i := range p.members {
		if usable(p.members, i, tried) {
			count++
		}
	}
	switch count {
	case 0:
		return -1
	case 1:
		return p.nth(0, tried)
	}
	a := randN(count)
	b := randN(count - 1)
	if b >= a {
		b++
	}
	ia, ib := p.nth(a, tried), p.nth(b, tried)
	if ia < 0 || ib < 0 {
		// A member went down between the two scans.
		return max(ia, ib)
	}
	if load(p.members[ib].Backend) < load(p.members[ia].Backend) {
		return ib
	}
	return ia
}

// nth returns the index of the k-th (from 0) usable member, or -1.
func (p *p2c) nth(k int, tried Tried) int {
	for i := range p.members {
		if usable(p.members, i, tried) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}
