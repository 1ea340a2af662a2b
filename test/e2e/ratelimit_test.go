package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// burst sends n requests at once and returns the answers.
func burst(t *testing.T, n int, url string, headers ...string) []response {
	t.Helper()
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = get(t, url, headers...)
		}()
	}
	wg.Wait()
	return out
}

// rateLimitHeaders are the fields every answer of a limited route carries.
var rateLimitHeaders = []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}

// TestRateLimitContractExample: 12 requests sent at once to
// {requests: 5, per: 10s} admit 5; the rest get 429 with Retry-After, and
// every answer carries the RateLimit-* headers.
func TestRateLimitContractExample(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: limited
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 5, per: 10s}
`, e.URL)))
	counts := map[int]int{}
	for _, r := range burst(t, 12, g.URL+"/x") {
		counts[r.Status]++
		for _, h := range rateLimitHeaders {
			if r.Header.Get(h) == "" {
				t.Errorf("%d answer lacks %s", r.Status, h)
			}
		}
	}
	if counts[200] != 5 || counts[429] != 7 {
		t.Fatalf("statuses %v, want 5x200 and 7x429", counts)
	}
	r := get(t, g.URL+"/x")
	if r.Status != 429 {
		t.Fatalf("status %d, want 429", r.Status)
	}
	if e := r.gwError(t); e.Error != "rate_limited" {
		t.Fatalf("error %q, want rate_limited", e.Error)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 (a token every 2s)", r.Header.Get("Retry-After"))
	}
	for _, h := range rateLimitHeaders {
		if r.Header.Get(h) == "" {
			t.Errorf("429 lacks %s", h)
		}
	}
	if r.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("RateLimit-Remaining %q, want 0", r.Header.Get("RateLimit-Remaining"))
	}
	_, body := g.Admin("GET", "/metrics", "")
	if !containsLine(string(body), `gantry_rate_limited_total{route="limited"} 8`) {
		t.Errorf("metrics lack gantry_rate_limited_total{route=\"limited\"} 8")
	}
}

// TestRateLimitIgnoresSpoofedForwardedFor: a peer that is not a trusted
// proxy cannot mint identities with X-Forwarded-For.
func TestRateLimitIgnoresSpoofedForwardedFor(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: per-ip
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 3, per: 1h, key: ip}
`, e.URL)))
	admitted := 0
	for i := range 10 {
		if get(t, g.URL+"/x", fmt.Sprintf("X-Forwarded-For: 10.0.0.%d", i)).Status == 200 {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("admitted %d with spoofed X-Forwarded-For, want 3", admitted)
	}
}

// TestPlanLimitsAndQuota: the plan's limit and the route's both apply, the
// stricter wins; the quota answers quota_exceeded with Retry-After to the
// period's end, and survives a restart of a gateway counting in memory.
func TestPlanLimitsAndQuota(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	db := filepath.Join(t.TempDir(), "gantry.db")
	cfg := base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
plans:
  tiny:
    rate_limit: {requests: 100, per: 1s}
    quota: {requests: 4, per: day}
consumers:
  - id: acme
    plan: tiny
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: strict
    match: {path_prefix: /strict}
    upstream: app
    auth: [api_key]
    rate_limit: {requests: 2, per: 1h}
  - name: loose
    match: {path_prefix: /loose}
    upstream: app
    auth: [api_key]
`, db, e.URL))
	g := testkit.Start(t, cfg)
	key := "X-API-Key: acme-key-0123456789"
	// The route's 2/h is stricter than the plan's 100/s.
	statuses := []int{get(t, g.URL+"/strict", key).Status, get(t, g.URL+"/strict", key).Status, get(t, g.URL+"/strict", key).Status}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Fatalf("strict route statuses %v, want [200 200 429]", statuses)
	}
	// Two admitted so far; the quota of 4 leaves two more.
	for i := range 2 {
		if s := get(t, g.URL+"/loose", key).Status; s != 200 {
			t.Fatalf("request %d: status %d, want 200", i, s)
		}
	}
	r := get(t, g.URL+"/loose", key)
	if r.Status != 429 || r.gwError(t).Error != "quota_exceeded" {
		t.Fatalf("status %d %s, want 429 quota_exceeded", r.Status, r.Body)
	}
	now := time.Now().UTC()
	toMidnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	if d := time.Duration(ra)*time.Second - toMidnight; d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("Retry-After %q, want about %v (to the end of the UTC day)", r.Header.Get("Retry-After"), toMidnight.Round(time.Second))
	}
	// Anonymous requests are refused before the limits: never counted.
	if s := get(t, g.URL+"/loose").Status; s != 401 {
		t.Fatalf("anonymous: %d, want 401", s)
	}

	g.Stop()
	g2 := testkit.StartFile(t, g.ConfigPath)
	if r := get(t, g2.URL+"/loose", key); r.Status != 429 {
		t.Fatalf("after restart: status %d, want 429 (the quota survives a restart)", r.Status)
	}
}

// redisURL returns the test Redis, or skips (fails under CI) without one.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GANTRY_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("GANTRY_TEST_REQUIRE_SERVICES") != "" {
			t.Fatal("GANTRY_TEST_REDIS_URL is not set but services are required")
		}
		t.Skip("GANTRY_TEST_REDIS_URL not set: skipping the Redis tests")
	}
	return u
}

// redisPrefix returns a key prefix of the test's own and deletes its keys
// when the test ends.
func redisPrefix(t *testing.T, url string) string {
	t.Helper()
	prefix := fmt.Sprintf("gantry-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return prefix
}

// TestRedisLimitAcrossNodes: three gateway processes sharing one Redis
// together admit the configured limit.
func TestRedisLimitAcrossNodes(t *testing.T) {
	url := redisURL(t)
	prefix := redisPrefix(t, url)
	e := testkit.NewEcho(t, "app")
	cfg := base(fmt.Sprintf(`counters: {driver: redis, redis_url: %q, key_prefix: %q}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: shared
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 300, per: 1h, key: header:X-Tenant}
`, url, prefix, e.URL))
	nodes := []*testkit.Gantry{testkit.Start(t, cfg), testkit.Start(t, cfg), testkit.Start(t, cfg)}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for c := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[c%3]
			for range 20 {
				switch s := get(t, node.URL+"/x", "X-Tenant: initech").Status; s {
				case 200:
					admitted.Add(1)
				case 429:
					refused.Add(1)
				default:
					t.Errorf("status %d", s)
				}
			}
		}()
	}
	wg.Wait()
	// 960 requests against 300 tokens refilled at one per 12 s: 300, or 301
	// when the run straddles a refill. The issue asks for 1%: a decision
	// that met a timeout on a loaded machine answers on_failure (allow).
	if a := admitted.Load(); a < 300 || a > 303 {
		t.Fatalf("three nodes admitted %d of %d, want 300 (within 1%%)", a, admitted.Load()+refused.Load())
	}
}

// TestRedisOutage: with its Redis gone, a gateway applies on_failure at
// once and without waiting on the network; when Redis is back, shared
// limiting resumes.
func TestRedisOutage(t *testing.T) {
	rs, ok := newRedisServer(t)
	if !ok {
		t.Skip("redis-server not installed")
	}
	rs.start()
	e := testkit.NewEcho(t, "app")
	for _, mode := range []string{"deny", "allow"} {
		t.Run(mode, func(t *testing.T) {
			if !rs.running() {
				rs.start()
			}
			cfg := base(fmt.Sprintf(`counters: {driver: redis, redis_url: %q, on_failure: %s, key_prefix: %q}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: shared
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 2, per: 1h}
`, rs.url(), mode, "outage-"+mode, e.URL))
			g := testkit.Start(t, cfg)
			for i, want := range []int{200, 200, 429} {
				if s := get(t, g.URL+"/x").Status; s != want {
					t.Fatalf("request %d: %d, want %d", i, s, want)
				}
			}
			rs.stop()
			want := 429
			if mode == "allow" {
				want = 200
			}
			for i := range 20 {
				start := time.Now()
				r := get(t, g.URL+"/x")
				if r.Status != want {
					t.Fatalf("redis down, request %d: %d, want %d (%s)", i, r.Status, want, r.Body)
				}
				// docs/rate-limits.md: deny says why with Retry-After 1; allow
				// sends no RateLimit fields, which would only be guesses.
				if want == 429 && (r.gwError(t).Error != "rate_limited" || r.Header.Get("Retry-After") != "1") {
					t.Fatalf("redis down, request %d: %s with Retry-After %q, want rate_limited with 1", i, r.Body, r.Header.Get("Retry-After"))
				}
				if r.Header.Get("RateLimit-Limit") != "" {
					t.Fatalf("redis down, request %d carries RateLimit-Limit %q", i, r.Header.Get("RateLimit-Limit"))
				}
				// Loopback requests take well under a millisecond; 50 ms
				// leaves room for the race detector.
				if d := time.Since(start); d > 50*time.Millisecond {
					t.Fatalf("redis down, request %d took %v", i, d)
				}
			}
			// The contract: /readyz is 503 while the counters are
			// unreachable only when their fallback refuses (deny); with
			// allow the node serves on, 200 with redis degraded.
			if mode == "deny" {
				waitReady(t, g, 503, 5*time.Second)
			} else {
				waitReadyz(t, g, 5*time.Second, "redis degraded",
					func(code int, b readyBody) bool { return code == 200 && b.degraded("redis", "counters") }, nil)
			}
			rs.start()
			// Redis restarted empty: the bucket is full again, and shared
			// limiting resumes once the gateway notices Redis is back.
			deadline := time.Now().Add(10 * time.Second)
			sawOK := false
			for {
				s := get(t, g.URL+"/x").Status
				if s == 200 {
					sawOK = true
				} else if s == 429 && sawOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("limiting did not resume after Redis came back")
				}
				time.Sleep(20 * time.Millisecond)
			}
			waitReady(t, g, 200, 5*time.Second)
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
