package aggregate

import (
	"container/list"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cache keeps answers of calls with a cache ttl, least recently used first
// out once the answers' sizes pass max bytes. Concurrent misses of one key
// make one request (the others wait for it). Cached answers are shared and
// never modified. Safe for concurrent use.
type cache struct {
	now func() time.Time
	max int64

	mu      sync.Mutex
	size    int64
	lru     list.List // of *entry, most recent first
	items   map[string]*list.Element
	flights map[string]*flight
}

type entry struct {
	key     string
	v       any
	size    int64
	expires time.Time
}

// flight is a request being made for a key; done closes when v and err are
// set.
type flight struct {
	done chan struct{}
	v    any
	err  error
	// waiters counts the callers waiting for it, under cache.mu.
	waiters int
}

// entryOverhead approximates what an entry costs beyond its answer.
const entryOverhead = 128

func newCache(max int64, now func() time.Time) *cache {
	if max <= 0 {
		max = DefaultCacheBytes
	}
	if now == nil {
		now = time.Now
	}
	return &cache{now: now, max: max, items: map[string]*list.Element{}, flights: map[string]*flight{}}
}

// fetchFunc makes the request for a key: the answer, its size, and how long
// it may be kept (0: not at all).
type fetchFunc func() (v any, size int64, ttl time.Duration, err error)

// do returns the answer for key: from the cache, from a request in flight
// for the same key, or from fetch.
func (c *cache) do(ctx context.Context, key string, fetch fetchFunc) (any, error) {
	c.mu.Lock()
	if el := c.items[key]; el != nil {
		e := el.Value.(*entry)
		if c.now().Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.v, nil
		}
		c.remove(el)
	}
	if f := c.flights[key]; f != nil {
		f.waiters++
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A request that was canceled or ran out of its time says nothing
		// about the answer; this caller may still have time for its own.
		var ce *callError
		if f.err == nil || ctx.Err() != nil || !errors.As(f.err, &ce) || !(ce.timeout || ce.canceled) {
			return f.v, f.err
		}
		v, _, _, err := fetch()
		return v, err
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()

	v, size, ttl, err := fetch()
	f.v, f.err = v, err
	c.mu.Lock()
	delete(c.flights, key)
	if err == nil && ttl > 0 {
		c.put(key, v, size+int64(len(key))+entryOverhead, ttl)
	}
	c.mu.Unlock()
	close(f.done)
	return v, err
}

// put stores an answer, evicting the least recently used ones to stay
// within max. c.mu is held.
func (c *cache) put(key string, v any, size int64, ttl time.Duration) {
	if size > c.max {
		return
	}
	if el := c.items[key]; el != nil {
		c.remove(el)
	}
	c.items[key] = c.lru.PushFront(&entry{key: key, v: v, size: size, expires: c.now().Add(ttl)})
	c.size += size
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.items, e.key)
	c.size -= e.size
}

// cacheTTL returns how long an answer with header h may be cached, at most
// ttl: 0 when Cache-Control says no-store, private or no-cache, or the
// answer sets a cookie; shortened by s-maxage or max-age (the gateway is a
// shared cache, RFC 9111 section 5.2.2.10).
func cacheTTL(h http.Header, ttl time.Duration) time.Duration {
	if len(h["Set-Cookie"]) > 0 {
		return 0
	}
	maxAge, sMaxAge := int64(-1), int64(-1)
	for _, line := range h["Cache-Control"] {
		for _, d := range strings.Split(line, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "no-store", "private", "no-cache":
				return 0
			case "max-age", "s-maxage":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(arg), `"`), 10, 64)
				if err != nil || n < 0 {
					// An invalid age is treated as stale (RFC 9111 section 4.2.1).
					return 0
				}
				if name == "max-age" {
					maxAge = n
				} else {
					sMaxAge = n
				}
			}
		}
	}
	age := sMaxAge
	if age < 0 {
		age = maxAge
	}
	if age < 0 {
		return ttl
	}
	if d := time.Duration(min(age, int64(ttl/time.Second)+1)) * time.Second; d < ttl {
		return d
	}
	return ttl
}
