package upstream

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// newRoundRobin returns the round_robin Picker for targets: a plain counter
// when all weights are equal, smooth weighted round robin otherwise.
func newRoundRobin(targets []*Target) Picker {
	for _, t := range targets[1:] {
		if t.Weight != targets[0].Weight {
			return &smoothRoundRobin{targets: targets, current: make([]int64, len(targets))}
		}
	}
	return &roundRobin{targets: targets}
}

// roundRobin cycles through targets of equal weight with one atomic counter.
type roundRobin struct {
	targets []*Target
	next    atomic.Uint64
}

func (rr *roundRobin) Pick(*http.Request) (*Target, error) {
	n := uint64(len(rr.targets))
	start := (rr.next.Add(1) - 1) % n
	for i := range n {
		if t := rr.targets[(start+i)%n]; t.Healthy() {
			return t, nil
		}
	}
	return nil, ErrNoHealthyUpstream
}

// smoothRoundRobin is NGINX's smooth weighted round robin
// (ngx_http_upstream_get_peer): every pick adds each target's weight to its
// current value, takes the largest and subtracts the total from it. Weights
// 3:1 give a, a, b, a rather than a, a, a, b, so a heavy target never gets
// a burst. The state is tiny, so one mutex per pool is cheaper than
// anything lock-free.
type smoothRoundRobin struct {
	targets []*Target
	mu      sync.Mutex
	current []int64
}

func (rr *smoothRoundRobin) Pick(*http.Request) (*Target, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := -1
	var total int64
	for i, t := range rr.targets {
		if !t.Healthy() {
			continue
		}
		w := int64(t.Weight)
		rr.current[i] += w
		total += w
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil, ErrNoHealthyUpstream
	}
	rr.current[best] -= total
	return rr.targets[best], nil
}
