package balancer

import "net/http"

// newLeastConn returns the least_conn Picker: the member with the fewest
// attempts in flight relative to its weight (in-flight / weight, so a
// weight-2 target takes twice the concurrency of a weight-1 one). Ties are
// broken uniformly at random, so idle members share the load instead of the
// first one taking every request.
func newLeastConn(members []Member) Picker { return &leastConn{members: members} }

type leastConn struct{ members []Member }

func (lc *leastConn) Pick(_ *http.Request, tried Tried) int {
	best, ties := -1, 0
	var bestLoad, bestWeight int64
	for i, m := range lc.members {
		if !usable(lc.members, i, tried) {
			continue
		}
		load, w := m.Backend.InFlight(), int64(m.Weight)
		if best < 0 {
			best, ties, bestLoad, bestWeight = i, 1, load, w
			continue
		}
		// load/w < bestLoad/bestWeight without division.
		switch a, b := load*bestWeight, bestLoad*w; {
		case a < b:
			best, ties, bestLoad, bestWeight = i, 1, load, w
		case a == b:
			// Reservoir sampling: the k-th tie replaces the pick with
			// probability 1/k, which makes every tie equally likely.
			ties++
			if randN(ties) == 0 {
				best, bestLoad, bestWeight = i, load, w
			}
		}
	}
	return best
}
