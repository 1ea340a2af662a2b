package balancer

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// NewRoundRobin returns the round_robin Picker: a plain counter when all
// weights are equal, smooth weighted round robin otherwise.
func NewRoundRobin(members []Member) Picker {
	for _, m := range members[1:] {
		if m.Weight != members[0].Weight {
			return &smoothRoundRobin{members: members, current: make([]int64, len(members))}
		}
	}
	return &roundRobin{members: members}
}

// roundRobin cycles through members of equal weight with one atomic counter.
type roundRobin struct {
	members []Member
	next    atomic.Uint64
}

func (rr *roundRobin) Pick(_ *http.Request, tried Tried) int {
	n := uint64(len(rr.members))
	// A retry does not advance the cycle: if it did, a dead target would
	// get the first attempt of every request instead of its share.
	var start uint64
	if tried == 0 {
		start = (rr.next.Add(1) - 1) % n
	} else {
		start = rr.next.Load() % n
	}
	for i := range n {
		if j := int((start + i) % n); usable(rr.members, j, tried) {
			return j
		}
	}
	return -1
}

// smoothRoundRobin is NGINX's smooth weighted round robin
// (ngx_http_upstream_get_peer): every pick adds each member's weight to its
// current value, takes the largest and subtracts the total from it. Weights
// 3:1 give a, a, b, a rather than a, a, a, b, so a heavy target never gets
// a burst. The state is tiny, so one mutex per pool is cheaper than
// anything lock-free.
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
