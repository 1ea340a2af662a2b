package aggregate

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// clock is a settable clock for cache expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCache(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration
		userID  string
		// wantHits is the upstream's request count after the step.
		wantHits int64
	}
	tests := []struct {
		name         string
		cacheControl string
		status       int
		steps        []step
	}{
		{"miss then hit", "", 200, []step{{0, "1", 1}, {10 * time.Second, "1", 1}, {0, "2", 2}, {0, "2", 2}}},
		{"expires after the ttl", "", 200, []step{{0, "1", 1}, {29 * time.Second, "1", 1}, {2 * time.Second, "1", 2}}},
		{"no-store", "no-store", 200, []step{{0, "1", 1}, {0, "1", 2}}},
		{"private", "private, max-age=60", 200, []step{{0, "1", 1}, {0, "1", 2}}},
		{"no-cache", "no-cache", 200, []step{{0, "1", 1}, {0, "1", 2}}},
		{"max-age shorter than the ttl", "public, max-age=5", 200, []step{{0, "1", 1}, {4 * time.Second, "1", 1}, {2 * time.Second, "1", 2}}},
		{"max-age longer than the ttl", "max-age=3600", 200, []step{{0, "1", 1}, {31 * time.Second, "1", 2}}},
		{"s-maxage wins over max-age", "max-age=60, s-maxage=2", 200, []step{{0, "1", 1}, {3 * time.Second, "1", 2}}},
		{"max-age=0", "max-age=0", 200, []step{{0, "1", 1}, {0, "1", 2}}},
		{"failures are not cached", "", 500, []step{{0, "1", 1}, {0, "1", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tt.cacheControl != "" {
					w.Header().Set("Cache-Control", tt.cacheControl)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
			})
			clk := &clock{now: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)}
			s := setup{upstreams: map[string][]string{"users": {up.URL}}, deps: Deps{Now: clk.Now}}
			h, _ := s.build(t, calls(&config.AggregateCall{
				Name: "user", Upstream: "users", Path: "/users/{user_id}", Optional: true, Cache: config.Duration(30 * time.Second),
			}))
			for i, st := range tt.steps {
				clk.advance(st.advance)
				rec, err := serve(h, "/dashboard/"+st.userID, params(st.userID))
				if err != nil {
					t.Fatalf("step %d: ServeHTTP() error: %v", i, err)
				}
				if got := hits.Load(); got != st.wantHits {
					t.Errorf("step %d: upstream saw %d requests, want %d", i, got, st.wantHits)
				}
				if want := fmt.Sprintf(`{"user":{"path":"/users/%s"}}`, st.userID); tt.status == 200 && rec.Body.String() != want {
					t.Errorf("step %d: answer = %s, want %s", i, rec.Body.String(), want)
				}
			}
		})
	}
}

// TestCacheOneRequestForConcurrentMisses: callers missing the same key
// while its request is in flight wait for it instead of sending their own.
func TestCacheOneRequestForConcurrentMisses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		// no-store: the followers can only have it from the flight.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"Ada"}`)
	})
	s := setup{upstreams: map[string][]string{"users": {up.URL}}}
	hd, _ := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}", Cache: config.Duration(time.Minute)}))
	c := hd.(*handler).calls[0].cache
	const n = 5
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			rec, err := serve(hd, "/dashboard/1", params("1"))
			if err == nil && rec.Body.String() != `{"user":{"name":"Ada"}}` {
				err = fmt.Errorf("answer = %s", rec.Body.String())
			}
			errs <- err
		})
	}
	// Release the upstream once the four others are waiting on the flight.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		waiting := 0
		for _, f := range c.flights {
			waiting = f.waiters
		}
		c.mu.Unlock()
		if waiting == n-1 {
			break
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("upstream saw %d requests for %d concurrent misses, want 1", got, n)
	}
	if c.len() != 0 {
		t.Errorf("cache holds %d answers of a no-store answer, want 0", c.len())
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newCache(3*(100+entryOverhead+1), nil)
	fetch := func(v string) fetchFunc {
		return func() (any, int64, time.Duration, error) { return v, 100, time.Minute, nil }
	}
	for _, k := range []string{"a", "b", "c"} {
		c.do(t.Context(), k, fetch(k))
	}
	c.do(t.Context(), "a", fetch("stale")) // a is now the most recent
	c.do(t.Context(), "d", fetch("d"))     // evicts b
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		c.mu.Lock()
		_, ok := c.items[k]
		c.mu.Unlock()
		if ok != want {
			t.Errorf("cached %q = %v, want %v", k, ok, want)
		}
	}
	if v, _ := c.do(t.Context(), "a", fetch("new")); v != "a" {
		t.Errorf("a = %v, want the cached a", v)
	}
	// Larger than the whole cache: never stored.
	c.do(t.Context(), "huge", func() (any, int64, time.Duration, error) { return "h", 1 << 30, time.Minute, nil })
	if c.len() != 3 {
		t.Errorf("len() = %d after an oversize answer, want 3", c.len())
	}
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	tests := []struct {
		header http.Header
		want   time.Duration
	}{
		{http.Header{}, ttl},
		{http.Header{"Cache-Control": {"public"}}, ttl},
		{http.Header{"Cache-Control": {"max-age=10"}}, 10 * time.Second},
		{http.Header{"Cache-Control": {"max-age=\"10\""}}, 10 * time.Second},
		{http.Header{"Cache-Control": {"MAX-AGE=10, must-revalidate"}}, 10 * time.Second},
		{http.Header{"Cache-Control": {"max-age=100"}}, ttl},
		{http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, 0},
		{http.Header{"Cache-Control": {"max-age=-1"}}, 0},
		{http.Header{"Cache-Control": {"max-age=abc"}}, 0},
		{http.Header{"Cache-Control": {"public", "no-store"}}, 0},
		{http.Header{"Cache-Control": {`private="Set-Cookie"`}}, 0},
		{http.Header{"Cache-Control": {"s-maxage=5, max-age=20"}}, 5 * time.Second},
		{http.Header{"Set-Cookie": {"session=1"}}, 0},
	}
	for _, tt := range tests {
		if got := cacheTTL(tt.header, ttl); got != tt.want {
			t.Errorf("cacheTTL(%v) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

// len returns the number of cached answers.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
