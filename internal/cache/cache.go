package cache

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what the cache did with a request: its X-Cache header and
// gantry_cache_requests_total's result label.
type Result int

// Results.
const (
	// Hit: a fresh entry answered, or the answer another request of the
	// same key fetched at the same time (coalesced).
	Hit Result = iota
	// Miss: the upstream answered; the answer was stored if it may be.
	Miss
	// Stale: a stale entry answered within its stale-while-revalidate
	// window while one background request revalidates it.
	Stale
	// Revalidated: a stale entry answered after the upstream confirmed it
	// (304).
	Revalidated
	// Bypass: the request is not one the cache answers (method, range,
	// credentials the route does not key by, upgrade).
	Bypass
	// NumResults is the number of results.
	NumResults
)

var resultLabels = [NumResults]string{"hit", "miss", "stale", "revalidated", "bypass"}
var resultHeaders = [NumResults]string{"HIT", "MISS", "STALE", "REVALIDATED", "BYPASS"}

// resultValues are the X-Cache field values, shared by every answer: the
// slices are full (len == cap), so an append makes a copy.
var resultValues = func() (v [NumResults][]string) {
	for i, h := range resultHeaders {
		v[i] = []string{h}[:1:1]
	}
	return v
}()

// String returns the result's metric label.
func (r Result) String() string { return resultLabels[r] }

func (r Result) header() string { return resultHeaders[r] }

// Cache is the gateway's response cache: one store shared by every
// generation's routes, and the requests in flight per key. It is safe for
// concurrent use.
type Cache struct {
	store Store
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	calls map[string]*call
	// revalidating holds the keys a background revalidation is running for.
	revalidating map[string]bool
	bg           sync.WaitGroup
	// warned is when a store failure was last logged (unix nanoseconds).
	warned atomic.Int64
}

// warnEvery spaces the log lines of store failures: an unreachable Redis
// fails every request's lookup.
const warnEvery = 10 * time.Second

// warn logs a store failure, at most once per warnEvery.
func (c *Cache) warn(msg, route string, err error) {
	now := c.now().UnixNano()
	last := c.warned.Load()
	if now-last < int64(warnEvery) || !c.warned.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(msg, "route", route, "error", err)
}

// Options configure New.
type Options struct {
	// Store keeps the entries.
	Store Store
	// Logger receives store failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// New returns a cache over o.Store.
func New(o Options) *Cache {
	c := &Cache{store: o.Store, log: o.Logger, now: o.Now, calls: map[string]*call{}, revalidating: map[string]bool{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Store returns the cache's store.
func (c *Cache) Store() Store { return c.store }

// Purge drops route's entries for path (the path clients ask for, without
// the query: every query and variant of it), or all of route's entries
// when path is "".
func (c *Cache) Purge(ctx context.Context, route, path string) error {
	return c.store.Purge(ctx, route, path)
}

// Close waits for background revalidations and closes the store.
func (c *Cache) Close() error {
	c.bg.Wait()
	return c.store.Close()
}

// call is one fetch in flight for a key, which the requests that ask for
// the same key meanwhile wait for.
type call struct {
	done chan struct{}
	once sync.Once
	// e is the entry the fetch stored, nil when its answer was not one to
	// share; key is where e was stored. Written before done is closed.
	e   *Entry
	key string
}

// join returns the call in flight for key, or starts one (leader).
func (c *Cache) join(key string) (cl *call, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.calls[key]; cl != nil {
		return cl, false
	}
	cl = &call{done: make(chan struct{})}
	c.calls[key] = cl
	return cl, true
}

// finish ends the call for key with its result; only the first finish
// counts.
func (c *Cache) finish(key string, cl *call, e *Entry, storedAt string) {
	cl.once.Do(func() {
		c.mu.Lock()
		if c.calls[key] == cl {
			delete(c.calls, key)
		}
		c.mu.Unlock()
		cl.e, cl.key = e, storedAt
		close(cl.done)
	})
}

// startRevalidation reports whether the caller may start the background
// revalidation of key: none is running.
func (c *Cache) startRevalidation(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revalidating[key] {
		return false
	}
	c.revalidating[key] = true
	c.bg.Add(1)
	return true
}

func (c *Cache) endRevalidation(key string) {
	c.mu.Lock()
	delete(c.revalidating, key)
	c.mu.Unlock()
	c.bg.Done()
}
