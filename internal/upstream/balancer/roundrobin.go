package balancer

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// newRoundRobin returns the round_robin Picker: a plain counter when all
// weights are equal, smooth weighted round robin otherwise.
func newRoundRobin(members []Member) Picker {
	for _, m := range members[1:] {
		if m.Weight != members[0].Weight {
			return &smoothRoundRobin{members: members, current: make([]int64, len(members))}
		}
	}
	return &roundRobin{members: members}
}

// roundRobin cycles through members of equal weight with one atomic counter.
// A pick that lands on an unavailable member takes the next one from a
// second counter that cycles over the available members only, so the share
// of a member that is down is spread evenly over the rest: with one of three
// out, each survivor takes half, not one of them two thirds (walking on to
// the next member in order would give that member its own share and the
// dead one's). When every member is available, a pick costs one atomic add
// and one Available call.
type roundRobin struct {
	members []Member
	next    atomic.Uint64
	// spill cycles over the available, untried members: it places the picks
	// that next lands on an unavailable member, and every retry.
	spill atomic.Uint64
}

func (rr *roundRobin) Pick(_ *http.Request, tried Tried) int {
	n := uint64(len(rr.members))
	// A retry does not advance the cycle: if it did, a dead target would
	// get the first attempt of every request instead of its share. Retries
	// are spread over the members left, so the retries of a dead member's
	// requests do not all land on its neighbour.
	if tried == 0 {
		if j := int((rr.next.Add(1) - 1) % n); usable(rr.members, j, 0) {
			return j
		}
	}
	k := 0
	for i := range rr.members {
		if usable(rr.members, i, tried) {
			k++
		}
	}
	if k == 0 {
		return -1
	}
	want := int((rr.spill.Add(1) - 1) % uint64(k))
	// first is the answer when a member went down between the two scans.
	first := -1
	for i := range rr.members {
		if usable(rr.members, i, tried) {
			if want == 0 {
				return i
			}
			if first < 0 {
				first = i
			}
			want--
		}
	}
	return first
}

// smoothRoundRobin is NGINX's smooth weighted round robin
// (ngx_http_upstream_get_peer): every pick adds each member's weight to its
// current value, takes the largest and subtracts the total from it. Weights
// 3:1 give a, a, b, a rather than a, a, a, b, so a heavy target never gets
// a burst. Members that are unavailable or tried take no part in a pick
// (nginx skips them the same way), so the weights of the members left are
// kept exactly: 3:1:1 with the weight-3 member down gives 1:1. The state is
// tiny, so one mutex per pool is cheaper than anything lock-free.
type smoothRoundRobin struct {
	members []Member
	mu      sync.Mutex
	current []int64
}

func (rr *smoothRoundRobin) Pick(_ *http.Request, tried Tried) int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := -1
	var total int64
	for i, m := range rr.members {
		if !usable(rr.members, i, tried) {
			continue
		}
		w := int64(m.Weight)
		rr.current[i] += w
		total += w
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best >= 0 {
		rr.current[best] -= total
	}
	return best
}
