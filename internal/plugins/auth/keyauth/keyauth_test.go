package keyauth

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/google/go-cmp/cmp"
)

// clock is a settable time source for Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logSink collects log records so tests can count them and check that no
// key leaks into them.
type logSink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	recs int
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs++
	return s.buf.Write(p)
}

func (s *logSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recs
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newAuth(t *testing.T, st store.Store, o Options) (*Authenticator, *logSink) {
	t.Helper()
	sink := &logSink{}
	o.Store = st
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(sink, nil))
	}
	a, err := buildStarted(t.Context(), o)
	if err != nil {
		t.Fatalf("buildStarted() error = %v", err)
	}
	t.Cleanup(a.Close)
	// Let the first read of the feed, which replays its history, pass:
	// tests count store calls and evictions from a quiet start.
	select {
	case <-a.synced:
	case <-time.After(time.Second):
	}
	return a, sink
}

// seed adds consumer acme on plan pro with one key and returns the key.
func seed(t *testing.T, st *memStore) (string, store.APIKey) {
	t.Helper()
	ctx := t.Context()
	if err := st.CreateConsumer(ctx, store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	return addKey(t, st, "acme")
}

func addKey(t *testing.T, st *memStore, consumer string) (string, store.APIKey) {
	t.Helper()
	plain, k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k.ConsumerID = consumer
	if err := st.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return plain, k
}

func keyRequest(key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	if key != "" {
		r.Header.Set("X-API-Key", key)
	}
	return r
}

// statusOf returns the HTTP status carried by err, 0 for nil.
func statusOf(err error) int {
	var he *pipeline.HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	if err != nil {
		return -1
	}
	return 0
}

// eventually polls cond every 5ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	good, _ := seed(t, st)
	revoked, rk := addKey(t, st, "acme")
	if err := st.RevokeKey(t.Context(), "acme", rk.ID); err != nil {
		t.Fatal(err)
	}
	a, sink := newAuth(t, st, Options{Query: "api_key"})

	want := &pipeline.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}
	tests := []struct {
		name       string
		header     string
		target     string
		wantCons   *pipeline.Consumer
		wantOK     bool
		wantStatus int
		wantErr    error
		lookups    int64 // store calls this request may make
	}{
		{name: "no key", target: "/orders"},
		{name: "good key in header", header: good, target: "/orders", wantCons: want, wantOK: true, lookups: 1},
		{name: "good key in query", target: "/orders?api_key=" + good, wantCons: want, wantOK: true},
		{name: "unknown key", header: "gk_unknown-key-of-the-right-length-x", target: "/", wantStatus: 401, wantErr: ErrInvalidKey, lookups: 1},
		{name: "revoked key", header: revoked, target: "/", wantStatus: 401, wantErr: ErrInvalidKey, lookups: 1},
		{name: "oversized key", header: strings.Repeat("x", 300), target: "/", wantStatus: 401, wantErr: ErrInvalidKey},
		{name: "two keys", header: good, target: "/?api_key=" + revoked, wantStatus: 401, wantErr: ErrAmbiguousKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.header != "" {
				r.Header.Set("X-API-Key", tt.header)
			}
			before := st.lookups.Load()
			cons, ok, err := a.Authenticate(r)
			if d := cmp.Diff(tt.wantCons, cons); d != "" || ok != tt.wantOK {
				t.Errorf("Authenticate() = %+v, %v; want %+v, %v", cons, ok, tt.wantCons, tt.wantOK)
			}
			if statusOf(err) != tt.wantStatus || !errors.Is(err, tt.wantErr) {
				t.Errorf("Authenticate() error = %v (status %d), want %v (status %d)", err, statusOf(err), tt.wantErr, tt.wantStatus)
			}
			if err != nil && (strings.Contains(err.Error(), good) || strings.Contains(err.Error(), revoked)) {
				t.Errorf("error %q quotes a key", err)
			}
			if n := st.lookups.Load() - before; n > tt.lookups {
				t.Errorf("store lookups = %d, want at most %d", n, tt.lookups)
			}
			if r.Header.Get("X-API-Key") != "" || strings.Contains(r.URL.RawQuery, "api_key") {
				t.Errorf("key left in the request: header %q, query %q", r.Header.Get("X-API-Key"), r.URL.RawQuery)
			}
		})
	}
	for _, k := range []string{good, revoked, hex.EncodeToString(hash(good)), hex.EncodeToString(hash(revoked))} {
		if strings.Contains(sink.String(), k) {
			t.Errorf("log mentions a key or its hash: %s", sink)
		}
	}
}

func TestCacheHitSkipsStore(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, _ := seed(t, st)
	a, _ := newAuth(t, st, Options{})
	first, ok, err := a.Authenticate(keyRequest(key))
	if !ok || err != nil {
		t.Fatalf("Authenticate() = %v, %v", ok, err)
	}
	for range 100 {
		cons, ok, err := a.Authenticate(keyRequest(key))
		if !ok || err != nil || cons != first {
			t.Fatalf("Authenticate() = %p, %v, %v; want the cached consumer %p", cons, ok, err, first)
		}
	}
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("store lookups = %d, want 1", n)
	}
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		known    bool
		wantCode int
	}{
		{"known key", true, 0},
		{"unknown key", false, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemStore()
			key, _ := seed(t, st)
			if !tt.known {
				key = "gk_never-issued-but-well-formed-key"
			}
			st.gate = make(chan struct{})
			a, _ := newAuth(t, st, Options{})
			const n = 100
			var wg sync.WaitGroup
			var started sync.WaitGroup
			errs := make(chan error, n)
			started.Add(n)
			for range n {
				wg.Go(func() {
					r := keyRequest(key)
					started.Done()
					_, ok, err := a.Authenticate(r)
					if ok == (tt.wantCode != 0) || statusOf(err) != tt.wantCode {
						errs <- err
					}
				})
			}
			started.Wait()
			eventually(t, time.Second, func() bool { return st.lookups.Load() >= 1 })
			// Give stragglers time to join the lookup; any that come later
			// find the cache filled, which also makes no store call.
			time.Sleep(20 * time.Millisecond)
			close(st.gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("a request got %v (status %d), want status %d", err, statusOf(err), tt.wantCode)
			}
			if got := st.lookups.Load(); got != 1 {
				t.Errorf("store lookups = %d for %d concurrent requests, want 1", got, n)
			}
		})
	}
}

func TestNegativeCache(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	seed(t, st)
	clk := newClock()
	// A poll interval of an hour keeps the change feed out of this test.
	a, _ := newAuth(t, st, Options{Now: clk.Now, PollInterval: time.Hour, NegativeTTL: 2 * time.Second})
	plain, k, _ := Generate()

	for range 5 {
		if _, _, err := a.Authenticate(keyRequest(plain)); statusOf(err) != 401 {
			t.Fatalf("unknown key: error = %v, want 401", err)
		}
	}
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("store lookups = %d after 5 tries of one bad key, want 1", n)
	}

	// The key is created elsewhere: within NegativeTTL the answer stands...
	k.ConsumerID = "acme"
	if err := st.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, _, err := a.Authenticate(keyRequest(plain)); statusOf(err) != 401 {
		t.Errorf("within NegativeTTL: error = %v, want the cached 401", err)
	}
	// ...and past it the key is looked up again.
	clk.Advance(1500 * time.Millisecond)
	if _, ok, err := a.Authenticate(keyRequest(plain)); !ok || err != nil {
		t.Errorf("after NegativeTTL: Authenticate() = %v, %v; want ok", ok, err)
	}
	if n := st.lookups.Load(); n != 2 {
		t.Errorf("store lookups = %d, want 2", n)
	}
}

func TestForgetMakesNewKeyWorkAtOnce(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	seed(t, st)
	a, _ := newAuth(t, st, Options{PollInterval: time.Hour, NegativeTTL: time.Hour})
	plain, k, _ := Generate()
	if _, _, err := a.Authenticate(keyRequest(plain)); statusOf(err) != 401 {
		t.Fatalf("error = %v, want 401", err)
	}
	k.ConsumerID = "acme"
	if err := st.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	a.Forget(k.Hash)
	if _, ok, err := a.Authenticate(keyRequest(plain)); !ok || err != nil {
		t.Errorf("after Forget: Authenticate() = %v, %v; want ok", ok, err)
	}
	a.Forget([]byte("short")) // ignored, must not panic
}

func TestConstantTimeComparePath(t *testing.T) {
	t.Parallel()
	revokedAt := time.Now()
	tests := []struct {
		name string
		hook func(hash []byte) (store.APIKey, store.Consumer, error)
	}{
		{"store returns another key", func(hash []byte) (store.APIKey, store.Consumer, error) {
			other := bytes.Clone(hash)
			other[31] ^= 1
			return store.APIKey{ID: "key_other", Hash: other}, store.Consumer{ID: "acme"}, nil
		}},
		{"store returns no hash", func([]byte) (store.APIKey, store.Consumer, error) {
			return store.APIKey{ID: "key_other"}, store.Consumer{ID: "acme"}, nil
		}},
		{"store returns a revoked key", func(hash []byte) (store.APIKey, store.Consumer, error) {
			return store.APIKey{ID: "key_old", Hash: bytes.Clone(hash), RevokedAt: &revokedAt}, store.Consumer{ID: "acme"}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemStore()
			st.lookupHook = tt.hook
			a, sink := newAuth(t, st, Options{})
			cons, ok, err := a.Authenticate(keyRequest(testKey))
			if ok || cons != nil || statusOf(err) != 401 {
				t.Errorf("Authenticate() = %v, %v, %v; want 401", cons, ok, err)
			}
			if sink.count() != 1 {
				t.Errorf("%d log records, want 1 reporting the store bug", sink.count())
			}
		})
	}
}

func TestStorageOutage(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, _ := seed(t, st)
	clk := newClock()
	a, sink := newAuth(t, st, Options{Now: clk.Now, PollInterval: time.Hour, CacheTTL: 10 * time.Second})
	want, ok, err := a.Authenticate(keyRequest(key))
	if !ok || err != nil {
		t.Fatalf("Authenticate() = %v, %v", ok, err)
	}
	st.down.Store(true)

	// An unknown key cannot be checked: 503, not 401, and not cached.
	unknown, _, _ := Generate()
	_, ok, err = a.Authenticate(keyRequest(unknown))
	var he *pipeline.HTTPError
	if ok || !errors.As(err, &he) || he.Status != 503 || he.Code != codeStorageUnavailable || !errors.Is(err, ErrStorageUnavailable) {
		t.Fatalf("unknown key while down: %v, %v; want 503 %s", ok, err, codeStorageUnavailable)
	}
	if he.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if strings.Contains(err.Error(), unknown) {
		t.Errorf("error quotes the key: %v", err)
	}

	// The known key keeps working past its TTL, without waiting on the
	// failing store: one background refresh per staleRetry.
	clk.Advance(20 * time.Second)
	lookups := st.lookups.Load()
	for range 50 {
		cons, ok, err := a.Authenticate(keyRequest(key))
		if !ok || err != nil || cons != want {
			t.Fatalf("stale key while down: %v, %v", ok, err)
		}
	}
	eventually(t, time.Second, func() bool { return st.lookups.Load() == lookups+1 })
	eventually(t, time.Second, func() bool { a.flight.mu.Lock(); defer a.flight.mu.Unlock(); return len(a.flight.calls) == 0 })
	for range 50 {
		if _, ok, _ := a.Authenticate(keyRequest(key)); !ok {
			t.Fatal("stale key refused")
		}
	}
	if got := st.lookups.Load(); got != lookups+1 {
		t.Errorf("store lookups during the outage = %d, want 1 refresh per %v", got-lookups, staleRetry)
	}
	clk.Advance(staleRetry)
	a.Authenticate(keyRequest(key))
	eventually(t, time.Second, func() bool { return st.lookups.Load() == lookups+2 })

	// Failures are logged once per minute, not per request.
	if n := sink.count(); n != 1 {
		t.Errorf("%d log records during the outage, want 1:\n%s", n, sink)
	}

	// Storage back: the unknown key gets its real answer.
	st.down.Store(false)
	if _, _, err := a.Authenticate(keyRequest(unknown)); statusOf(err) != 401 {
		t.Errorf("unknown key after the outage: %v, want 401", err)
	}
	for _, s := range []string{key, unknown, hex.EncodeToString(hash(key))} {
		if strings.Contains(sink.String(), s) {
			t.Errorf("log mentions a key or its hash:\n%s", sink)
		}
	}
}

func TestRefreshSeesRevocationWithoutFeed(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, k := seed(t, st)
	clk := newClock()
	a, _ := newAuth(t, st, Options{Now: clk.Now, PollInterval: time.Hour, CacheTTL: time.Minute})
	if _, ok, _ := a.Authenticate(keyRequest(key)); !ok {
		t.Fatal("key refused")
	}
	if err := st.RevokeKey(t.Context(), "acme", k.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	// The request that finds the entry expired is still served from it;
	// the refresh it starts learns of the revocation.
	if _, ok, _ := a.Authenticate(keyRequest(key)); !ok {
		t.Error("stale entry not served while refreshing")
	}
	eventually(t, time.Second, func() bool {
		_, _, err := a.Authenticate(keyRequest(key))
		return statusOf(err) == 401
	})
}

func TestRequestGivesUp(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, _ := seed(t, st)
	st.gate = make(chan struct{})
	a, _ := newAuth(t, st, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	r := keyRequest(key).WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := a.Authenticate(r)
		done <- err
	}()
	eventually(t, time.Second, func() bool { return st.lookups.Load() == 1 })
	cancel()
	if err := <-done; statusOf(err) != pipeline.StatusClientClosed {
		t.Errorf("error = %v, want 499", err)
	}
	// The lookup still completes and fills the cache for the next request.
	close(st.gate)
	eventually(t, time.Second, func() bool {
		_, ok, _ := a.Authenticate(keyRequest(key))
		return ok
	})
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("store lookups = %d, want 1", n)
	}
}

func TestStorePanicIsAnOutage(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	st.lookupHook = func([]byte) (store.APIKey, store.Consumer, error) { panic("driver bug") }
	a, _ := newAuth(t, st, Options{})
	if _, _, err := a.Authenticate(keyRequest(testKey)); statusOf(err) != 503 {
		t.Errorf("error = %v, want 503", err)
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"default header", Options{}, `ApiKey realm="gantry", header="X-API-Key"`},
		{"custom header and query", Options{Header: "Api-Token", Query: "api_key"}, `ApiKey realm="gantry", header="Api-Token", query="api_key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newAuth(t, newMemStore(), tt.o)
			if got := a.Challenge(); got != tt.want {
				t.Errorf("Challenge() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no store", Options{}, "Store is required"},
		{"bad header", Options{Store: newMemStore(), Header: "X API Key"}, "not a valid header name"},
		{"bad query", Options{Store: newMemStore(), Query: "a&b"}, "query parameter"},
		{"quoted query", Options{Store: newMemStore(), Query: `a"b`}, "query parameter"},
		{"negative ttl", Options{Store: newMemStore(), CacheTTL: -time.Second}, "CacheTTL must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := buildStarted(t.Context(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want it to mention %q", err, tt.want)
			}
			if a != nil {
				a.Close()
			}
		})
	}
}
