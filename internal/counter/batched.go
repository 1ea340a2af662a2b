package counter

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// leases is the batched mode of Redis: each node decides locally from
// leases of the shared budget.
//
// A bucket lease is a run of tokens reserved in the shared bucket's GCRA
// order, possibly ahead of time; the node spends token j of a lease only
// from the moment exact GCRA would have admitted it, so reserving early
// never admits early. A lease is asked for when the previous one is spent;
// its size doubles while leases keep running out, up to
// leaseMax = clamp(⌈rate·window⌉, 1, burst), and halves when one lapses
// unused. A lease no request has asked for during two windows, or whose
// tokens have all been spendable for a window, is settled: its future
// tokens are given back when no one has reserved after them, else they
// lapse.
//
// A quota lease is a number of units charged to the shared counter ahead
// of use, up to clamp(limit/100, 1, 1000); units idle for two windows are
// given back. A node can thus never admit beyond the quota; see
// docs/rate-limits.md for the bounds.
type leases struct {
	r      *Redis
	window time.Duration
	clock  func() time.Time
	epoch  time.Time
	seed   maphash.Seed
	seq    atomic.Uint64
	shards [shardCount]leaseShard

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type leaseShard struct {
	mu sync.Mutex
	m  map[key]*lease
	_  [48]byte
}

// lease is a node's share of one bucket or one quota. Times are local
// nanoseconds since leases.epoch.
type lease struct {
	mu      sync.Mutex
	id      uint64 // decisions lock leases in id order
	rkey    string
	dead    bool  // dropped from its shard; a decision holding it starts over
	lastUse int64 // the last decision that asked for it

	// Bucket: token j (1-based) of n may be spent from max(got, first+j·t).
	got, first, t int64
	n, spent      int64
	full          int64 // when the shared bucket would be full if no one else took
	endTAT        int64 // the shared TAT the lease left, µs
	shared        int64 // tokens the shared bucket had left after the lease
	size          int64 // tokens the next lease asks for

	// Quota: held units, charged to the shared counter but not used yet.
	held    int64
	qEnd    int64 // when the period ends
	qStart  int64 // the period's start, Unix seconds
	qLeft   int64 // units the shared counter had left after the lease
	qRetry  int64 // an exhausted quota is not asked again before this
	qSize   int64
	qPer    Period
	qLeased bool // the last quota lease granted units
}

func newLeases(r *Redis, window time.Duration) *leases {
	clock := r.now
	if clock == nil {
		clock = time.Now
	}
	l := &leases{
		r:      r,
		window: window,
		clock:  clock,
		epoch:  clock(),
		seed:   maphash.MakeSeed(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range l.shards {
		l.shards[i].m = make(map[key]*lease)
	}
	go l.settler()
	return l
}

func (l *leases) mono() int64 { return int64(l.clock().Sub(l.epoch)) }

// get returns the lease of a key, creating it.
func (l *leases) get(tag, name string) *lease {
	k := key{tag, name}
	s := &l.shards[shardIndex(l.seed, tag)]
	s.mu.Lock()
	e := s.m[k]
	if e == nil {
		e = &lease{id: l.seq.Add(1), rkey: l.r.key(tag, name), size: 1, qSize: 1}
		s.m[k] = e
	}
	s.mu.Unlock()
	return e
}

// leaseSet is the leases of one decision, locked in id order.
type leaseSet struct {
	l [maxBuckets + 1]*lease
	n int
}

func (s *leaseSet) add(e *lease) {
	j := s.n
	for j > 0 && s.l[j-1].id > e.id {
		j--
	}
	if j > 0 && s.l[j-1] == e {
		return
	}
	copy(s.l[j+1:s.n+1], s.l[j:s.n])
	s.l[j] = e
	s.n++
}

func (s *leaseSet) lock() (dead bool) {
	for i := range s.n {
		s.l[i].mu.Lock()
		dead = dead || s.l[i].dead
	}
	return dead
}

func (s *leaseSet) unlock() {
	for i := s.n - 1; i >= 0; i-- {
		s.l[i].mu.Unlock()
	}
}

func (l *leases) take(ctx context.Context, req Request) Decision {
	for {
		if d, ok := l.try(ctx, &req); ok {
			return d
		}
	}
}

// try decides req; ok is false when a lease was dropped meanwhile and the
// decision must start over.
func (l *leases) try(ctx context.Context, req *Request) (d Decision, ok bool) {
	var es [maxBuckets + 1]*lease
	var set leaseSet
	for i := 0; i < req.N; i++ {
		es[i] = l.get(req.Buckets[i].Tag, req.Buckets[i].Name)
		set.add(es[i])
	}
	q := &req.Quota
	var qe *lease
	if q.Limit > 0 {
		qe = l.get(q.Tag, q.Name)
		es[maxBuckets] = qe
		set.add(qe)
	}
	if set.lock() {
		set.unlock()
		return Decision{}, false
	}
	defer set.unlock()

	now := l.mono()
	var need part
	for i := 0; i < req.N; i++ {
		if es[i].spent >= es[i].n {
			need.buckets |= 1 << i
		}
	}
	if qe != nil {
		if now >= qe.qEnd {
			qe.held, qe.qRetry = 0, 0
		}
		need.quota = qe.held == 0 && now >= qe.qRetry
	}
	if need != (part{}) {
		if !l.r.br.up() {
			return fallback(l.r.mode), true
		}
		if err := l.refill(ctx, req, &es, need); err != nil {
			return l.r.failed(ctx, err), true
		}
		l.r.br.succeeded()
		now = l.mono()
	}

	d.Allowed = true
	for i := 0; i < req.N; i++ {
		e := es[i]
		if at := e.at(e.spent + 1); e.spent >= e.n || at > now {
			d.Allowed = false
			w := time.Duration(max(at-now, 0))
			if d.Reason == reasonNone || w > d.RetryAfter {
				d.Reason, d.Bucket, d.RetryAfter = reasonRate, i, w
			}
		}
	}
	if qe != nil && qe.held == 0 {
		d.Allowed = false
		d.Reason, d.Bucket, d.RetryAfter = ReasonQuota, 0, time.Duration(max(0, qe.qEnd-now))
	}
	// A lease is in use while requests ask for it, admitted or not: one
	// holding tokens for later is not idle.
	for i := 0; i < req.N; i++ {
		es[i].lastUse = now
		if d.Allowed {
			es[i].spent++
		}
	}
	if qe != nil {
		qe.lastUse = now
		if d.Allowed {
			qe.held--
		}
	}
	for i := 0; i < req.N; i++ {
		d.Buckets[i] = es[i].state(req.Buckets[i].Rate.burst(), now)
	}
	if qe != nil {
		d.Quota = State{Limit: q.Limit, Remaining: qe.held + qe.qLeft, Reset: time.Duration(max(0, qe.qEnd-now))}
	}
	return d, true
}

// at returns when token j of the bucket lease may be spent.
func (e *lease) at(j int64) int64 { return max(e.got, e.first+j*e.t) }

// state reports a bucket lease: the tokens this node may spend now, plus
// what the shared bucket had left when the lease was taken.
func (e *lease) state(burst, now int64) State {
	ready := int64(0)
	if e.t > 0 && now >= e.first {
		ready = max(0, min(e.n, (now-e.first)/e.t)-e.spent)
	}
	s := State{Limit: burst, Remaining: min(burst, ready+e.shared)}
	if s.Remaining == 0 && e.spent < e.n {
		s.Reset = time.Duration(max(0, e.at(e.spent+1)-now))
	}
	return s
}

// leaseMax is the largest bucket lease: about one window of the rate, at
// least one token, at most the burst.
func (l *leases) leaseMax(r Rate) int64 {
	t := r.interval()
	return min(max(1, (int64(l.window)+t-1)/t), r.burst())
}

func quotaLeaseMax(limit int64) int64 { return min(max(1, limit/100), 1000) }

// refill asks Redis, in one round trip, for new leases of the buckets and
// quota in need. On a Cluster, keys of different tags may live on
// different nodes: each tag's leases are asked for on their own, which
// changes nothing else, as leases do not depend on each other.
func (l *leases) refill(ctx context.Context, req *Request, es *[maxBuckets + 1]*lease, need part) error {
	if !l.r.split {
		return l.refillPart(ctx, req, es, need)
	}
	parts, n := byTag(req, need)
	for _, p := range parts[:n] {
		if err := l.refillPart(ctx, req, es, p); err != nil {
			return err
		}
	}
	return nil
}

// refillPart is one lease script over part need of req.
func (l *leases) refillPart(ctx context.Context, req *Request, es *[maxBuckets + 1]*lease, need part) error {
	var keyBuf [maxBuckets + 1]string
	var argBuf [5 + 3*maxBuckets]any
	keys, args := keyBuf[:0], argBuf[:0]
	args = append(args, l.r.nowArg(), 0, int64(0), "", int64(0))
	var idx [maxBuckets]int
	nb := 0
	for i := 0; i < req.N; i++ {
		if need.buckets&(1<<i) == 0 {
			continue
		}
		e, r := es[i], req.Buckets[i].Rate
		if e.n > 0 {
			// The last lease ran out: ask for more.
			e.size *= 2
		}
		e.size = min(e.size, l.leaseMax(r))
		keys = append(keys, e.rkey)
		args = append(args, r.intervalMicros(), r.burst(), e.size)
		idx[nb] = i
		nb++
	}
	args[1] = nb
	q, qe := &req.Quota, es[maxBuckets]
	if need.quota {
		if qe.qLeased {
			qe.qSize *= 2
		}
		qe.qSize = min(qe.qSize, quotaLeaseMax(q.Limit))
		keys = append(keys, qe.rkey)
		args[2], args[3], args[4] = q.Limit, periodArg(q.Per), qe.qSize
	}
	res, err := leaseScript.Run(ctx, l.r.client, keys, args...).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != 4+4*nb {
		return fmt.Errorf("lease script answered %d values, want %d", len(res), 4+4*nb)
	}
	got := l.mono()
	if need.quota {
		qe.held, qe.qLeft, qe.qStart, qe.qPer = res[0], res[1], res[3], q.Per
		qe.qEnd = got + res[2]*1000
		qe.qLeased = res[0] > 0
		qe.qRetry = 0
		if res[0] == 0 {
			// Used up here; other nodes may give idle units back, so look
			// again after a window rather than on every request.
			qe.qRetry = got + int64(l.window)
		}
		qe.lastUse = got
	}
	for j := range nb {
		e, r := es[idx[j]], req.Buckets[idx[j]].Rate
		v := res[4+4*j:]
		// Redis counts in whole microseconds: pace by the same interval.
		e.t = r.intervalMicros() * 1000
		span := gcraOf(e.t, r.burst()).span
		e.got = got
		e.first = got + v[0]*1000 - span
		e.n, e.spent = v[1], 0
		e.full = got + v[0]*1000 + v[1]*e.t
		e.endTAT = v[2]
		e.shared = v[3]
		e.lastUse = got
	}
	return nil
}

func (l *leases) settler() {
	defer close(l.done)
	tk := time.NewTicker(l.window)
	defer tk.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tk.C:
			l.settle(false)
		}
	}
}

// giveBack is one unused lease to return.
type giveBack struct {
	key  string
	args [5]any
}

// settle ends idle leases (all of them when final), giving back what is
// worth giving back in one pipelined round trip, and forgets keys unused
// for a while.
func (l *leases) settle(final bool) {
	now := l.mono()
	w := int64(l.window)
	var back []giveBack
	nowArg := l.r.nowArg()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			// A lease busy with a decision is not idle.
			if !e.mu.TryLock() {
				continue
			}
			idle := now-e.lastUse >= 2*w
			if unused := e.n - e.spent; unused > 0 && (final || idle || now >= e.full+w) {
				// Tokens whose time has passed would refill anyway; only
				// future ones are worth a round trip.
				if e.full > now {
					back = append(back, giveBack{e.rkey, [5]any{nowArg, "b", e.endTAT, unused, e.t / 1000}})
				}
				e.n, e.spent = 0, 0
				e.size = max(1, e.size/2)
			}
			if e.held > 0 && (final || idle) {
				if now < e.qEnd {
					back = append(back, giveBack{e.rkey, [5]any{nowArg, "q", e.qStart, e.held, periodArg(e.qPer)}})
				}
				e.held = 0
				e.qSize = max(1, e.qSize/2)
			}
			if e.n == e.spent && e.held == 0 && now-e.lastUse >= 20*w {
				e.dead = true
				delete(s.m, k)
			}
			e.mu.Unlock()
		}
		s.mu.Unlock()
	}
	if len(back) == 0 || !l.r.br.up() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.r.br.timeout)
	defer cancel()
	_, err := l.r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range back {
			returnScript.Eval(ctx, p, []string{back[i].key}, back[i].args[:]...)
		}
		return nil
	})
	if err != nil {
		l.r.br.fail(err)
	}
}

// close stops the settler and gives back everything this node holds.
func (l *leases) close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.settle(true)
	})
}
