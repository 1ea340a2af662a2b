package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/store"
)

// pingStore is a Store whose Ping answers err, or blocks until its
// context ends when hang is set; /readyz calls nothing else.
type pingStore struct {
	store.Store
	err  error
	hang bool
}

func (s pingStore) Ping(ctx context.Context) error {
	if s.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.err
}

type pingCounters struct{ err error }

func (c pingCounters) Ping(context.Context) error { return c.err }

// breakerCounters answer pings but may still have their breaker open, as
// *counter.Redis between Redis coming back and the next probe.
type breakerCounters struct {
	pingCounters
	up bool
}

func (c breakerCounters) Up() bool { return c.up }

type fakeUsage struct {
	buffering bool
	pending   int
}

func (u fakeUsage) Buffering() bool { return u.buffering }
func (u fakeUsage) Pending() int    { return u.pending }

// readyGateway is a running-config gateway that binds nothing.
func readyGateway(t *testing.T) *server.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
storage: {driver: sqlite, dsn: ":memory:"}
upstreams:
  app: {targets: [{url: "http://127.0.0.1:1"}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`), "gantry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Shutdown(context.Background()) })
	return gw
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	down := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	redisAllow := Readiness{StorageDriver: "postgres", CountersDriver: "redis"}
	redisDeny := Readiness{StorageDriver: "postgres", CountersDriver: "redis", CountersDeny: true}
	tests := []struct {
		name     string
		store    pingStore
		counters interface{ Ping(context.Context) error }
		ready    Readiness
		drain    bool
		want     int
		body     readiness
	}{
		{name: "all up", ready: redisAllow, want: 200, body: readiness{Status: "ready"}},
		{name: "all up, deny", ready: redisDeny, want: 200, body: readiness{Status: "ready"}},
		{name: "redis down, on_failure allow", counters: pingCounters{down}, ready: redisAllow, want: 200,
			body: readiness{Status: "ready", Degraded: []degradation{{Dependency: "redis", Component: "counters",
				Reason: "counters unreachable; counters.on_failure is allow: requests pass without rate limits or quotas"}}}},
		{name: "redis down, on_failure deny", counters: pingCounters{down}, ready: redisDeny, want: 503,
			body: readiness{Status: "not ready", Reason: "counters unreachable and counters.on_failure is deny: rate-limited requests are refused"}},
		{name: "breaker open, deny", counters: breakerCounters{up: false}, ready: redisDeny, want: 503,
			body: readiness{Status: "not ready", Reason: "counters unreachable and counters.on_failure is deny: rate-limited requests are refused"}},
		{name: "breaker closed, deny", counters: breakerCounters{up: true}, ready: redisDeny, want: 200, body: readiness{Status: "ready"}},
		{name: "postgres down", store: pingStore{err: down}, ready: redisAllow, want: 200,
			body: readiness{Status: "ready", Degraded: []degradation{{Dependency: "postgres", Component: "storage",
				Reason: "storage unreachable; cached API keys still work, keys not seen before get 503 storage_unavailable"}}}},
		{name: "sqlite down, deny counters up", store: pingStore{err: down}, ready: Readiness{StorageDriver: "sqlite", CountersDeny: true}, want: 200,
			body: readiness{Status: "ready", Degraded: []degradation{{Dependency: "sqlite", Component: "storage",
				Reason: "storage unreachable; cached API keys still work, keys not seen before get 503 storage_unavailable"}}}},
		{name: "usage in memory", ready: Readiness{StorageDriver: "sqlite", Usage: fakeUsage{buffering: true, pending: 7}}, want: 200,
			body: readiness{Status: "ready", Degraded: []degradation{{Dependency: "sqlite", Component: "usage",
				Reason: "usage cannot be written to storage; 7 buckets held in memory"}}}},
		{name: "usage flushed", ready: Readiness{StorageDriver: "sqlite", Usage: fakeUsage{pending: 7}}, want: 200, body: readiness{Status: "ready"}},
		{name: "everything down, allow", store: pingStore{err: down}, counters: pingCounters{down},
			ready: Readiness{StorageDriver: "postgres", CountersDriver: "redis", Usage: fakeUsage{buffering: true, pending: 1}}, want: 200,
			body: readiness{Status: "ready", Degraded: []degradation{
				{Dependency: "redis", Component: "counters", Reason: "counters unreachable; counters.on_failure is allow: requests pass without rate limits or quotas"},
				{Dependency: "postgres", Component: "storage", Reason: "storage unreachable; cached API keys still work, keys not seen before get 503 storage_unavailable"},
				{Dependency: "postgres", Component: "usage", Reason: "usage cannot be written to storage; 1 buckets held in memory"},
			}}},
		{name: "shutting down", ready: redisAllow, drain: true, want: 503, body: readiness{Status: "not ready", Reason: "shutting down"}},
		{name: "shutting down, deps down", store: pingStore{err: down}, counters: pingCounters{down}, ready: redisDeny, drain: true, want: 503,
			body: readiness{Status: "not ready", Reason: "shutting down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := readyGateway(t)
			if tt.drain {
				gw.Drain()
			}
			counters := tt.counters
			if counters == nil {
				counters = pingCounters{}
			}
			h := Handler(Options{Gateway: gw, Store: tt.store, Counters: counters, Readiness: tt.ready, Listen: "127.0.0.1:9080"})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9080/readyz", nil))
			if rec.Code != tt.want {
				t.Errorf("GET /readyz = %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			var got readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if diff := cmp.Diff(tt.body, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// The old /readyz answered only {"status": ...} (and "reason" when not
// ready); those fields keep their names and values, and "degraded" is left
// out when nothing is.
func TestReadyzBodyShape(t *testing.T) {
	t.Parallel()
	h := Handler(Options{Gateway: readyGateway(t), Store: pingStore{}, Listen: "127.0.0.1:9080"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9080/readyz", nil))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"status": "ready"}, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// A dependency that does not answer at all must not hold /readyz past a
// load balancer's probe timeout (Kubernetes: 1s).
func TestReadyzHangingDependency(t *testing.T) {
	t.Parallel()
	h := Handler(Options{Gateway: readyGateway(t), Store: pingStore{hang: true}, Readiness: Readiness{StorageDriver: "postgres"}, Listen: "127.0.0.1:9080"})
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9080/readyz", nil))
	if took := time.Since(start); took > time.Second {
		t.Errorf("/readyz took %v with a hanging storage, want under 1s", took)
	}
	if rec.Code != 200 {
		t.Errorf("GET /readyz = %d with storage hanging, want 200 (degraded)", rec.Code)
	}
}
