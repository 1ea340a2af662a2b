package counter

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// MemoryOptions configures NewMemory.
type MemoryOptions struct {
	// Now is the clock. Default time.Now; tests pass a fake one.
	Now func() time.Time
	// MaxKeys bounds how many buckets are kept. Past it, adding a bucket
	// first drops a full one, else the one closest to full, so memory stays
	// bounded whatever identities clients invent. Default 1<<20.
	MaxKeys int
	// SweepEvery is how often full buckets and past quota counters are
	// dropped. Default 1m.
	SweepEvery time.Duration
}

// Defaults of MemoryOptions.
const (
	defaultMaxKeys    = 1 << 20
	defaultSweepEvery = time.Minute
)

// shardCount spreads keys over independent locks; a decision locks only the
// shards of its own keys.
const shardCount = 64

// key names one bucket or quota counter without building a string.
type key struct{ tag, name string }

// quotaCount is a quota counter: n requests counted in the period that
// ends at end (Unix nanoseconds).
type quotaCount struct{ end, n int64 }

type memShard struct {
	mu sync.Mutex
	// buckets holds each bucket's TAT (nanoseconds since Memory.epoch)
	// behind a pointer, so a decision hashes its key once.
	buckets map[key]*int64
	quotas  map[key]quotaCount
	_       [40]byte // keeps neighbouring shards' locks off one cache line
}

// Memory counts in this process. It is safe for concurrent use.
type Memory struct {
	now      func() time.Time
	epoch    time.Time
	seed     maphash.Seed
	perShard int
	shards   [shardCount]memShard

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ Counter = (*Memory)(nil)

// NewMemory returns a Memory counter and starts its sweeper; Close stops it.
func NewMemory(o MemoryOptions) *Memory {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = defaultMaxKeys
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = defaultSweepEvery
	}
	m := &Memory{
		now:      o.Now,
		epoch:    o.Now(),
		seed:     maphash.MakeSeed(),
		perShard: max(1, o.MaxKeys/shardCount),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].buckets = make(map[key]*int64)
		m.shards[i].quotas = make(map[key]quotaCount)
	}
	go m.sweeper(o.SweepEvery)
	return m
}

func (m *Memory) shardOf(tag string) uint8 { return shardIndex(m.seed, tag) }

// shardIndex picks the shard of a tag's counters. Every bucket and quota
// of one identity (the tag) lives in one shard, as its keys share one
// Redis Cluster hash slot: a decision about one identity, its plan's
// bucket, the route's and its quota, takes one lock, and identities
// spread over the shards.
func shardIndex(seed maphash.Seed, tag string) uint8 {
	return uint8(maphash.String(seed, tag) % shardCount)
}

// mono returns t as nanoseconds since the epoch; with the real clock the
// difference uses the monotonic reading, so wall-clock steps do not refill
// or drain buckets.
func (m *Memory) mono(t time.Time) int64 { return int64(t.Sub(m.epoch)) }

// lockSet is the shards one decision holds, locked in ascending order so
// that two decisions never wait on each other in a cycle.
type lockSet struct {
	idx [maxBuckets + 1]uint8
	n   int
}

func (l *lockSet) add(i uint8) {
	j := l.n
	for j > 0 && l.idx[j-1] > i {
		j--
	}
	if j > 0 && l.idx[j-1] == i {
		return
	}
	copy(l.idx[j+1:l.n+1], l.idx[j:l.n])
	l.idx[j] = i
	l.n++
}

// Take decides req. It never fails and never degrades.
func (m *Memory) Take(_ context.Context, req Request) Decision {
	t := m.now()
	now, wall := m.mono(t), t.UnixNano()
	shardIdx, locks := m.lockAll(&req)
	q := &req.Quota

	d := Decision{Allowed: true}
	var gs [maxBuckets]gcra
	var tats [maxBuckets]int64
	var cells [maxBuckets]*int64
	for i := 0; i < req.N; i++ {
		b := &req.Buckets[i]
		g := newGCRA(b.Rate)
		tat := now
		if c := m.shards[shardIdx[i]].buckets[key{b.Tag, b.Name}]; c != nil {
			tat, cells[i] = *c, c
		}
		gs[i], tats[i] = g, tat
		if _, ok := g.admit(tat, now); !ok {
			d.Allowed = false
			w := time.Duration(g.wait(tat, now))
			if d.Reason == reasonNone || w > d.RetryAfter {
				d.Reason, d.Bucket, d.RetryAfter = reasonRate, i, w
			}
		}
	}
	if q.Limit > 0 {
		s := &m.shards[shardIdx[maxBuckets]]
		k := key{q.Tag, q.Name}
		qc := s.quotas[k]
		if qc.end <= wall {
			_, end := q.Per.Bounds(t)
			qc = quotaCount{end: end.UnixNano()}
		}
		switch {
		case qc.n >= q.Limit:
			// A used-up quota outranks a rate limit: retrying after the
			// bucket refills would not help.
			d.Allowed = false
			d.Reason, d.Bucket, d.RetryAfter = ReasonQuota, 0, time.Duration(qc.end-wall)
		case d.Allowed:
			qc.n++
			s.quotas[k] = qc
		}
		d.Quota = State{Limit: q.Limit, Remaining: max(0, q.Limit-qc.n), Reset: time.Duration(qc.end - wall)}
	}
	for i := 0; i < req.N; i++ {
		g, tat := gs[i], tats[i]
		if d.Allowed {
			tat, _ = g.admit(tat, now)
			if c := cells[i]; c != nil {
				*c = tat
			} else {
				s := &m.shards[shardIdx[i]]
				if len(s.buckets) >= m.perShard {
					s.evict(now)
				}
				c := new(int64)
				*c = tat
				s.buckets[key{req.Buckets[i].Tag, req.Buckets[i].Name}] = c
			}
		}
		d.Buckets[i] = State{
			Limit:     req.Buckets[i].Rate.burst(),
			Remaining: g.remaining(tat, now),
			Reset:     time.Duration(g.wait(tat, now)),
		}
	}

	m.unlockAll(&locks)
	return d
}

// evictSample is how many buckets evict looks at, as Redis samples keys
// for its approximated LRU.
const evictSample = 8

// evict makes room in a full shard: it drops the full buckets among a
// sample, or else the sampled bucket closest to full (the smallest TAT),
// whose identity loses the least by starting over. Map iteration starts at
// a random place, so the sample is random.
func (s *memShard) evict(now int64) {
	var victim key
	var victimTAT int64
	seen, dropped := 0, false
	for k, c := range s.buckets {
		if tat := *c; tat <= now {
			delete(s.buckets, k)
			dropped = true
		} else if seen == 0 || tat < victimTAT {
			victim, victimTAT = k, tat
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !dropped {
		delete(s.buckets, victim)
	}
}

func (m *Memory) sweeper(every time.Duration) {
	defer close(m.done)
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
			m.Sweep()
		}
	}
}

// Sweep drops full buckets and quota counters of past periods now. The
// sweeper calls it every MemoryOptions.SweepEvery.
func (m *Memory) Sweep() {
	t := m.now()
	now, wall := m.mono(t), t.UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, c := range s.buckets {
			if *c <= now {
				delete(s.buckets, k)
			}
		}
		for k, qc := range s.quotas {
			if qc.end <= wall {
				delete(s.quotas, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns how many buckets and quota counters are held.
func (m *Memory) Len() (buckets, quotas int) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		buckets += len(s.buckets)
		quotas += len(s.quotas)
		s.mu.Unlock()
	}
	return buckets, quotas
}

// QuotaCounts returns the quota counters of current periods, to be saved
// when the gateway stops. Key is "{tag}:name".
func (m *Memory) QuotaCounts() []store.QuotaCount {
	wall := m.now().UnixNano()
	var out []store.QuotaCount
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, qc := range s.quotas {
			if qc.end > wall && qc.n > 0 {
				out = append(out, store.QuotaCount{Key: quotaKey(k), PeriodEnd: time.Unix(0, qc.end).UTC(), Count: qc.n})
			}
		}
		s.mu.Unlock()
	}
	return out
}

// RestoreQuotas loads counters saved by QuotaCounts, at start. Counters of
// periods that have ended and malformed keys are ignored; a counter already
// held for the same period keeps the larger count.
func (m *Memory) RestoreQuotas(qs []store.QuotaCount) {
	wall := m.now().UnixNano()
	for _, c := range qs {
		k, ok := parseQuotaKey(c.Key)
		end := c.PeriodEnd.UnixNano()
		if !ok || end <= wall || c.Count <= 0 {
			continue
		}
		s := &m.shards[m.shardOf(k.tag)]
		s.mu.Lock()
		if cur, ok := s.quotas[k]; !ok || cur.end != end || cur.n < c.Count {
			s.quotas[k] = quotaCount{end: end, n: c.Count}
		}
		s.mu.Unlock()
	}
}

func quotaKey(k key) string { return "{" + k.tag + "}:" + k.name }

// parseQuotaKey reverses quotaKey. Names hold no '}', so the last one
// closes the tag whatever the tag contains.
func parseQuotaKey(s string) (key, bool) {
	i := strings.LastIndexByte(s, '}')
	if s == "" || s[0] != '{' || i < 1 || i+2 >= len(s) || s[i+1] != ':' {
		return key{}, false
	}
	return key{tag: s[1:i], name: s[i+2:]}, true
}

// Ping always succeeds: memory is always reachable.
func (m *Memory) Ping(context.Context) error { return nil }

// Close stops the sweeper. Counters stay readable (QuotaCounts) after it.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
	})
	return nil
}
