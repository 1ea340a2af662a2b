package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// clock is a time tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is one route's cache step over a terminal the test writes.
type fixture struct {
	t     *testing.T
	clock *clock
	cache *Cache
	h     pipeline.Handler
	calls atomic.Int64
}

func newFixture(t *testing.T, rt Route, term func(w http.ResponseWriter, r *http.Request, n int64)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}}
	f.cache = New(Options{Store: NewMemory(1 << 20), Now: f.clock.Now})
	t.Cleanup(func() { f.cache.Close() })
	if rt.Name == "" {
		rt.Name = "catalog"
	}
	if rt.Policy.MaxBody == 0 {
		rt.Policy.MaxBody = 1 << 10
	}
	f.h = f.cache.Middleware(rt)(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		term(w, r, f.calls.Add(1))
		return nil
	}))
	return f
}

// get sends one request through the step; consumer "" is anonymous.
func (f *fixture) get(method, path, consumer string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://gateway.test"+path, nil)
	for k, vs := range header {
		r.Header[k] = vs
	}
	x := &pipeline.Exchange{RequestPath: r.URL.Path}
	if consumer != "" {
		x.Consumer = &pipeline.Consumer{ID: consumer}
	}
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	w := httptest.NewRecorder()
	if err := f.h.ServeHTTP(w, r); err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return w
}

func (f *fixture) wantCalls(n int64) {
	f.t.Helper()
	if got := f.calls.Load(); got != n {
		f.t.Fatalf("upstream calls = %d, want %d", got, n)
	}
}

func wantAnswer(t *testing.T, w *httptest.ResponseRecorder, status int, xcache, body string) {
	t.Helper()
	if w.Code != status || w.Header().Get("X-Cache") != xcache || w.Body.String() != body {
		t.Fatalf("answer = %d X-Cache %q body %q, want %d %q %q", w.Code, w.Header().Get("X-Cache"), w.Body.String(), status, xcache, body)
	}
}

func TestHundredGetsOneCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "catalog %d", n)
	})
	wantAnswer(t, f.get("GET", "/catalog/items", "", nil), 200, "MISS", "catalog 1")
	for range 99 {
		f.clock.Add(100 * time.Millisecond)
		w := f.get("GET", "/catalog/items", "", nil)
		wantAnswer(t, w, 200, "HIT", "catalog 1")
		if w.Header().Get("Age") == "" || w.Header().Get("Content-Type") != "text/plain" {
			t.Fatalf("hit header = %v, want Age and the stored Content-Type", w.Header())
		}
	}
	f.wantCalls(1)
	if w := f.get("HEAD", "/catalog/items", "", nil); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("X-Cache") != "HIT" {
		t.Fatalf("HEAD = %d %q X-Cache %q, want 200 from the entry, no body", w.Code, w.Body, w.Header().Get("X-Cache"))
	}
	// Another query is another resource.
	wantAnswer(t, f.get("GET", "/catalog/items?page=2", "", nil), 200, "MISS", "catalog 2")
	f.clock.Add(time.Minute)
	wantAnswer(t, f.get("GET", "/catalog/items", "", nil), 200, "MISS", "catalog 3")
}

func TestNeverStored(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{"no-store", "private, max-age=60"} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Cache-Control", cc)
				fmt.Fprintf(w, "answer %d", n)
			})
			for i := range 3 {
				wantAnswer(t, f.get("GET", "/p", "", nil), 200, "MISS", fmt.Sprintf("answer %d", i+1))
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	t.Parallel()
	for _, cacheable := range []bool{true, false} {
		t.Run(fmt.Sprintf("cacheable=%v", cacheable), func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
				if n == 1 {
					<-release
				}
				if !cacheable {
					w.Header().Set("Cache-Control", "no-store")
					fmt.Fprintf(w, "fresh for %s", r.Header.Get("X-Client"))
					return
				}
				io.WriteString(w, "shared")
			})
			const clients = 50
			var wg sync.WaitGroup
			bodies := make([]string, clients)
			for i := range clients {
				wg.Go(func() {
					bodies[i] = f.get("GET", "/cold", "", http.Header{"X-Client": {fmt.Sprint(i)}}).Body.String()
				})
			}
			// Every client has joined the leader's call once it is the
			// only call and nobody else reached the terminal.
			time.Sleep(300 * time.Millisecond)
			f.wantCalls(1)
			close(release)
			wg.Wait()
			for i, b := range bodies {
				want := "shared"
				if !cacheable {
					want = fmt.Sprintf("fresh for %d", i)
				}
				if b != want {
					t.Errorf("client %d got %q, want %q", i, b, want)
				}
			}
			if cacheable {
				f.wantCalls(1)
			} else {
				f.wantCalls(clients)
			}
		})
	}
}

func TestVary(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s %d", r.Header.Get("Accept-Language"), n)
	})
	en, de := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"de"}}
	wantAnswer(t, f.get("GET", "/v", "", en), 200, "MISS", "en 1")
	wantAnswer(t, f.get("GET", "/v", "", de), 200, "MISS", "de 2")
	wantAnswer(t, f.get("GET", "/v", "", en), 200, "HIT", "en 1")
	wantAnswer(t, f.get("GET", "/v", "", de), 200, "HIT", "de 2")
	f.wantCalls(2)
}

func TestVaryByConsumer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Route{ByConsumer: true, VaryBy: []string{"X-Tenant"}, Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "private to caller %d", n)
	})
	wantAnswer(t, f.get("GET", "/me", "alice", nil), 200, "MISS", "private to caller 1")
	wantAnswer(t, f.get("GET", "/me", "bob", nil), 200, "MISS", "private to caller 2")
	wantAnswer(t, f.get("GET", "/me", "alice", nil), 200, "HIT", "private to caller 1")
	wantAnswer(t, f.get("GET", "/me", "alice", http.Header{"X-Tenant": {"t2"}}), 200, "MISS", "private to caller 3")
	wantAnswer(t, f.get("GET", "/me", "", nil), 200, "MISS", "private to caller 4")
}

func TestConsumerNotKeyedBypasses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "answer %d", n)
	})
	wantAnswer(t, f.get("GET", "/me", "alice", nil), 200, "BYPASS", "answer 1")
	wantAnswer(t, f.get("GET", "/me", "bob", nil), 200, "BYPASS", "answer 2")
	// A request with credentials the route does not key by: stored only
	// when the upstream allows it.
	wantAnswer(t, f.get("GET", "/me", "", http.Header{"Authorization": {"Bearer x"}}), 200, "MISS", "answer 3")
	wantAnswer(t, f.get("GET", "/me", "", http.Header{"Authorization": {"Bearer y"}}), 200, "MISS", "answer 4")
	wantAnswer(t, f.get("POST", "/me", "", nil), 200, "BYPASS", "answer 5")
	wantAnswer(t, f.get("GET", "/me", "", http.Header{"Range": {"bytes=0-1"}}), 200, "BYPASS", "answer 6")
}

func TestRevalidation(t *testing.T) {
	t.Parallel()
	var conditional atomic.Value
	f := newFixture(t, Route{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		conditional.Store(r.Header.Get("If-None-Match"))
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=10")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "version one")
	})
	wantAnswer(t, f.get("GET", "/doc", "", nil), 200, "MISS", "version one")
	f.clock.Add(11 * time.Second)
	wantAnswer(t, f.get("GET", "/doc", "", nil), 200, "REVALIDATED", "version one")
	if got := conditional.Load(); got != `"v1"` {
		t.Fatalf("revalidation If-None-Match = %q, want \"v1\"", got)
	}
	wantAnswer(t, f.get("GET", "/doc", "", nil), 200, "HIT", "version one")
	f.wantCalls(2)
	// The client's own validators are answered from the entry.
	if w := f.get("GET", "/doc", "", http.Header{"If-None-Match": {`"v1"`}}); w.Code != 304 || w.Body.Len() != 0 {
		t.Fatalf("conditional GET = %d %q, want 304 without body", w.Code, w.Body)
	}
	// ...and never forwarded on a miss, which must fetch a whole answer.
	f.clock.Add(11 * time.Second)
	wantAnswer(t, f.get("GET", "/other", "", http.Header{"If-None-Match": {`"v1"`}}), 304, "MISS", "")
	if got := conditional.Load(); got != "" {
		t.Fatalf("miss forwarded If-None-Match %q, want none", got)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	done := make(chan string, 4)
	f := newFixture(t, Route{Policy: Policy{TTL: 10 * time.Second, StaleWhileRevalidate: 30 * time.Second}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "answer %d", n)
		if n > 1 {
			done <- r.Method
		}
	})
	wantAnswer(t, f.get("GET", "/s", "", nil), 200, "MISS", "answer 1")
	f.clock.Add(15 * time.Second)
	wantAnswer(t, f.get("GET", "/s", "", nil), 200, "STALE", "answer 1")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no background revalidation")
	}
	f.cache.bg.Wait()
	wantAnswer(t, f.get("GET", "/s", "", nil), 200, "HIT", "answer 2")
	f.wantCalls(2)
	// Past the stale window the client waits for a fresh answer.
	f.clock.Add(45 * time.Second)
	wantAnswer(t, f.get("GET", "/s", "", nil), 200, "MISS", "answer 3")
}

func TestLargeBodyRelayed(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 5000)
	f := newFixture(t, Route{Policy: Policy{TTL: time.Minute, MaxBody: 1024}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		for i := 0; i < len(big); i += 500 {
			io.WriteString(w, big[i:i+500])
		}
	})
	wantAnswer(t, f.get("GET", "/big", "", nil), 200, "MISS", big)
	wantAnswer(t, f.get("GET", "/big", "", nil), 200, "MISS", big)
	f.wantCalls(2)
}

func TestPurge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Route{Policy: Policy{TTL: time.Minute}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "answer %d", n)
	})
	f.get("GET", "/a", "", nil)
	f.get("GET", "/a?q=1", "", nil)
	f.get("GET", "/b", "", nil)
	if err := f.cache.Purge(context.Background(), "catalog", "/a"); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, f.get("GET", "/a", "", nil), 200, "MISS", "answer 4")
	wantAnswer(t, f.get("GET", "/a?q=1", "", nil), 200, "MISS", "answer 5")
	wantAnswer(t, f.get("GET", "/b", "", nil), 200, "HIT", "answer 3")
	if err := f.cache.Purge(context.Background(), "catalog", ""); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, f.get("GET", "/b", "", nil), 200, "MISS", "answer 6")
}

// brokenStore fails every call, as an unreachable Redis does.
type brokenStore struct{}

var errBroken = errors.New("connection refused")

func (brokenStore) Get(context.Context, string, string) (*Entry, error) { return nil, errBroken }
func (brokenStore) Set(context.Context, string, string, *Entry, time.Duration) error {
	return errBroken
}
func (brokenStore) Purge(context.Context, string, string) error { return errBroken }
func (brokenStore) Close() error                                { return nil }

func TestStoreFailureServesUpstream(t *testing.T) {
	t.Parallel()
	c := New(Options{Store: brokenStore{}})
	var calls atomic.Int64
	h := c.Middleware(Route{Name: "catalog", Policy: Policy{TTL: time.Minute, MaxBody: 1 << 10}})(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		fmt.Fprintf(w, "answer %d", calls.Add(1))
		return nil
	}))
	for i := range 3 {
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/a", nil)); err != nil {
			t.Fatal(err)
		}
		wantAnswer(t, w, 200, "MISS", fmt.Sprintf("answer %d", i+1))
	}
	if err := c.Purge(context.Background(), "catalog", ""); !errors.Is(err, errBroken) {
		t.Fatalf("Purge() = %v, want the store's error", err)
	}
}
