package keyauth

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// digest is a key's SHA-256 hash, the cache's key. A fixed-size array keeps
// map lookups free of allocations.
type digest = [32]byte

const (
	// shardCount spreads the cache over independent locks; the key hash is
	// uniform, so its first byte picks the shard.
	shardCount = 64
	// maxNegativePerShard bounds what a flood of random keys can make the
	// cache hold (64 shards × 1024). Past it, bad keys are still refused,
	// just not remembered, and single-flight still collapses repeats.
	maxNegativePerShard = 1024
)

// entry is a verified key. It is immutable once stored: a refresh replaces
// it, so readers may use it without holding the shard lock.
type entry struct {
	cons    *pipeline.Consumer // shared by every request with this key
	keyID   string
	expires int64 // unix nanoseconds; past it the entry is refreshed
}

// shard is one lock's worth of the cache. The padding keeps two shards'
// reader counts off one cache line.
type shard struct {
	mu  sync.RWMutex
	pos map[digest]*entry
	neg map[digest]int64 // unknown keys, to the unix nanosecond they expire
	_   [64]byte
}

// cache maps key hashes to verified entries and to recent negative answers.
// It is safe for concurrent use; a hit takes one shard's read lock.
//
// epoch orders fills against invalidations. A lookup notes the epoch before
// asking the store and may store its answer only if no invalidation has
// happened since; invalidations bump the epoch before deleting, and both
// sides check or delete under the shard lock. So an answer read before a
// revocation can never be cached after the revocation was applied.
type cache struct {
	shards [shardCount]shard
	epoch  atomic.Uint64
}

func newCache() *cache {
	c := &cache{}
	for i := range c.shards {
		c.shards[i].pos = make(map[digest]*entry)
		c.shards[i].neg = make(map[digest]int64)
	}
	return c
}

func (c *cache) shard(h *digest) *shard { return &c.shards[h[0]%shardCount] }

// get returns the verified entry for h, or else the expiry of a negative
// answer (0 when there is none).
func (c *cache) get(h *digest) (e *entry, negUntil int64) {
	s := c.shard(h)
	s.mu.RLock()
	e = s.pos[*h]
	if e == nil {
		negUntil = s.neg[*h]
	}
	s.mu.RUnlock()
	return e, negUntil
}

// begin returns the epoch a lookup must quote when storing its answer.
func (c *cache) begin() uint64 { return c.epoch.Load() }

// putPositive stores a verified entry unless the cache was invalidated
// since the lookup began.
func (c *cache) putPositive(h *digest, e *entry, since uint64) {
	s := c.shard(h)
	s.mu.Lock()
	if c.epoch.Load() == since {
		s.pos[*h] = e
		delete(s.neg, *h)
	}
	s.mu.Unlock()
}

// putNegative records that h is unknown until until, dropping any verified
// entry (a refresh found the key gone).
func (c *cache) putNegative(h *digest, until int64, since uint64) {
	s := c.shard(h)
	s.mu.Lock()
	if c.epoch.Load() == since {
		delete(s.pos, *h)
		if _, ok := s.neg[*h]; ok || len(s.neg) < maxNegativePerShard {
			s.neg[*h] = until
		}
	}
	s.mu.Unlock()
}

// extend pushes back the expiry of old when it is still h's entry, so that
// during a storage outage a stale entry is retried once per period instead
// of on every request.
func (c *cache) extend(h *digest, old *entry, until int64) {
	s := c.shard(h)
	s.mu.Lock()
	if s.pos[*h] == old {
		e := *old
		e.expires = until
		s.pos[*h] = &e
	}
	s.mu.Unlock()
}

// forget drops everything known about h.
func (c *cache) forget(h *digest) {
	c.epoch.Add(1)
	s := c.shard(h)
	s.mu.Lock()
	delete(s.pos, *h)
	delete(s.neg, *h)
	s.mu.Unlock()
}

// forgetConsumer drops every key of the consumer. Consumers change rarely,
// so a scan beats keeping a second index in step.
func (c *cache) forgetConsumer(id string) {
	c.epoch.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for h, e := range s.pos {
			if e.cons.ID == id {
				delete(s.pos, h)
			}
		}
		s.mu.Unlock()
	}
}

// clear drops everything.
func (c *cache) clear() {
	c.epoch.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.pos)
		clear(s.neg)
		s.mu.Unlock()
	}
}

// sweep removes negative answers that expired by now. Verified entries stay:
// past their TTL they are what keeps a key working through an outage.
func (c *cache) sweep(now int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for h, until := range s.neg {
			if until <= now {
				delete(s.neg, h)
			}
		}
		s.mu.Unlock()
	}
}

// len returns the number of verified and negative entries.
func (c *cache) len() (pos, neg int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		pos += len(s.pos)
		neg += len(s.neg)
		s.mu.RUnlock()
	}
	return pos, neg
}

// flight runs at most one lookup per key hash at a time; requests that
// miss the cache for a hash already being looked up wait for that lookup.
// It is golang.org/x/sync/singleflight cut down to what is needed here,
// with waiters free to give up when their own request ends.
type flight struct {
	mu    sync.Mutex
	calls map[digest]*call
}

// call is one lookup in progress; res is valid once done is closed.
type call struct {
	done chan struct{}
	res  result
}

// result is a lookup's answer: a consumer, or an error (ErrInvalidKey or a
// storage failure).
type result struct {
	cons *pipeline.Consumer
	err  error
}

// do returns the lookup in progress for h, or starts fn in a new goroutine.
// fn must store its answer in the cache before returning, so that nobody
// arriving after the call is removed misses both.
func (f *flight) do(h *digest, fn func() result) *call {
	f.mu.Lock()
	if c, ok := f.calls[*h]; ok {
		f.mu.Unlock()
		return c
	}
	if f.calls == nil {
		f.calls = make(map[digest]*call)
	}
	c := &call{done: make(chan struct{})}
	f.calls[*h] = c
	f.mu.Unlock()
	key := *h
	go func() {
		defer close(c.done)
		func() {
			// A panicking store must not take the process down with it.
			defer func() {
				if v := recover(); v != nil {
					c.res = result{err: fmt.Errorf("%w: panic in lookup: %v", ErrStorageUnavailable, v)}
				}
			}()
			c.res = fn()
		}()
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
	}()
	return c
}
