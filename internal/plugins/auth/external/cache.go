package external

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxCacheEntries bounds a service's cache: beyond it, expired entries go
// first, then arbitrary ones.
const maxCacheEntries = 10000

// cache keeps decisions for a fixed time. It is safe for concurrent use.
type cache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]entry
}

type entry struct {
	d       *Decision
	expires time.Time
}

func newCache(ttl time.Duration, max int, now func() time.Time) *cache {
	return &cache{ttl: ttl, max: max, now: now, m: map[[sha256.Size]byte]entry{}}
}

func (c *cache) get(k [sha256.Size]byte) (*Decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, k)
		return nil, false
	}
	return e.d, true
}

func (c *cache) put(k [sha256.Size]byte, d *Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for ek, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, ek)
			}
		}
		for ek := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, ek)
		}
	}
	c.m[k] = entry{d: d, expires: now.Add(c.ttl)}
}

// len returns how many entries the cache holds.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
