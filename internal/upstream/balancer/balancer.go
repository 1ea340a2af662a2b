package balancer

import (
	"fmt"
	"math/rand/v2"
	"net/http"
)

// Backend is what a balancer sees of one target. Implementations must be
// safe for concurrent use and cheap: Pick calls them for several members.
type Backend interface {
	// Available reports whether the target may take a request: healthy by
	// the active checks and not ejected by passive ones.
	Available() bool
	// InFlight is the number of attempts the target is serving now.
	InFlight() int64
	// Cost is the target's latency estimate in nanoseconds (a peak EWMA);
	// 0 when unknown.
	Cost() float64
}

// Member is one target as the balancer is built with it.
type Member struct {
	Backend Backend
	// Weight is at least 1.
	Weight int
	// Key identifies the target stably across processes and reloads (its
	// URL); the hash ring places the member by it.
	Key string
}

// Tried is the set of member indices a request has already tried. Indices
// from 64 on are never in the set, so a pool of more than 64 targets may
// retry one of those twice; Pick still skips every tried index below 64.
type Tried uint64

// Has reports whether index i is in the set.
func (t Tried) Has(i int) bool { return i >= 0 && i < 64 && t&(1<<uint(i)) != 0 }

// With returns the set with index i added.
func (t Tried) With(i int) Tried {
	if i < 0 || i >= 64 {
		return t
	}
	return t | 1<<uint(i)
}

// Picker chooses the member for one attempt of r. It returns the index of
// the member, or -1 when every member is unavailable or tried. Safe for
// concurrent use; r may be nil for pickers that do not read the request.
type Picker interface {
	Pick(r *http.Request, tried Tried) int
}

// Names of the balancers, as the configuration spells them.
const (
	RoundRobin = "round_robin"
	LeastConn  = "least_conn"
	p2CEWMA    = "p2c_ewma"
	Hash       = "hash"
)

// New builds the Picker named kind ("" is round_robin) over members, which
// must not be empty. hashOn is read by the hash balancer only.
func New(kind, hashOn string, members []Member) (Picker, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("balancer: no members")
	}
	for i, m := range members {
		if m.Backend == nil || m.Weight < 1 {
			return nil, fmt.Errorf("balancer: member %d: want a backend and a weight of at least 1", i)
		}
	}
	switch kind {
	case "", RoundRobin:
		return newRoundRobin(members), nil
	case LeastConn:
		return newLeastConn(members), nil
	case p2CEWMA:
		return newP2C(members), nil
	case Hash:
		return newHash(members, hashOn)
	}
	return nil, fmt.Errorf("unknown balancer %q: want round_robin, least_conn, p2c_ewma or hash", kind)
}

// usable reports whether member i may be picked.
func usable(members []Member, i int, tried Tried) bool {
	return !tried.Has(i) && members[i].Backend.Available()
}

// anyUsable reports whether some member may be picked.
func anyUsable(members []Member, tried Tried) bool {
	for i := range members {
		if usable(members, i, tried) {
			return true
		}
	}
	return false
}

// randN returns a uniform integer in [0, n). math/rand/v2's top-level
// functions use a per-thread generator: no lock, no allocation.
func randN(n int) int { return int(rand.Uint64N(uint64(n))) }
