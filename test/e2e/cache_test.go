package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// cacheUpstream counts its requests and answers through answer, which
// gets the request and its number (from 1).
type cacheUpstream struct {
	URL   string
	calls atomic.Int64
}

func newCacheUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int64)) *cacheUpstream {
	t.Helper()
	u := &cacheUpstream{}
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w, r, u.calls.Add(1))
	}))
	u.URL = srv.URL
	return u
}

func (u *cacheUpstream) wantCalls(t *testing.T, n int64) {
	t.Helper()
	if got := u.calls.Load(); got != n {
		t.Fatalf("upstream calls = %d, want %d", got, n)
	}
}

// wantCached checks one answer's status, X-Cache and body.
func wantCached(t *testing.T, r response, status int, xcache, body string) {
	t.Helper()
	if r.Status != status || r.Header.Get("X-Cache") != xcache || string(r.Body) != body {
		t.Fatalf("answer = %d X-Cache %q body %q, want %d %q %q", r.Status, r.Header.Get("X-Cache"), r.Body, status, xcache, body)
	}
}

// cachedRoute is a config with one cached route, catalog, on /catalog.
func cachedRoute(upstream, cache string) string {
	return base(fmt.Sprintf(`upstreams:
  catalog: {targets: [{url: %q}]}
routes:
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: catalog
    cache: %s
`, upstream, cache))
}

// TestCacheHundredGetsOneUpstreamCall: a cached GET served 100 times
// causes one upstream call; hits carry Age and X-Cache: HIT.
func TestCacheHundredGetsOneUpstreamCall(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"answer":%d}`, n)
	})
	g := testkit.Start(t, cachedRoute(up.URL, "{ttl: 30s}"))
	wantCached(t, get(t, g.URL+"/catalog/items"), 200, "MISS", `{"answer":1}`)
	for range 99 {
		r := get(t, g.URL+"/catalog/items")
		wantCached(t, r, 200, "HIT", `{"answer":1}`)
		if r.Header.Get("Age") == "" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Request-Id") == "" {
			t.Fatalf("hit header %v, want Age, the stored Content-Type and the request's own X-Request-Id", r.Header)
		}
	}
	up.wantCalls(t, 1)
	if r := do(t, "POST", g.URL+"/catalog/items", "{}"); r.Header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("POST X-Cache %q, want BYPASS", r.Header.Get("X-Cache"))
	}
	up.wantCalls(t, 2)
}

// TestCacheNoStoreAndPrivateNeverCached: answers marked no-store or
// private go to every client from the upstream.
func TestCacheNoStoreAndPrivateNeverCached(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", strings.TrimPrefix(r.URL.Path, "/catalog/"))
		fmt.Fprintf(w, "answer %d", n)
	})
	g := testkit.Start(t, cachedRoute(up.URL, "{ttl: 30s}"))
	n := 0
	for _, cc := range []string{"no-store", "private"} {
		for range 3 {
			n++
			wantCached(t, get(t, g.URL+"/catalog/"+cc), 200, "MISS", fmt.Sprintf("answer %d", n))
		}
	}
	up.wantCalls(t, 6)
}

// TestCacheVarySeparatesVariants: the upstream's Vary keeps one entry per
// value of the header it names.
func TestCacheVarySeparatesVariants(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s #%d", r.Header.Get("Accept-Language"), n)
	})
	g := testkit.Start(t, cachedRoute(up.URL, "{ttl: 30s}"))
	wantCached(t, get(t, g.URL+"/catalog/greeting", "Accept-Language: en"), 200, "MISS", "en #1")
	wantCached(t, get(t, g.URL+"/catalog/greeting", "Accept-Language: fr"), 200, "MISS", "fr #2")
	for range 3 {
		wantCached(t, get(t, g.URL+"/catalog/greeting", "Accept-Language: en"), 200, "HIT", "en #1")
		wantCached(t, get(t, g.URL+"/catalog/greeting", "Accept-Language: fr"), 200, "HIT", "fr #2")
	}
	up.wantCalls(t, 2)
}

// TestCacheRevalidationSendsIfNoneMatch: a stale entry is revalidated with
// its ETag, and the upstream's 304 reaches the client as the cached 200;
// the client's own If-None-Match is answered 304 from the entry.
func TestCacheRevalidationSendsIfNoneMatch(t *testing.T) {
	var seen sync.Map
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		seen.Store(n, r.Header.Get("If-None-Match"))
		// Date has whole seconds, so an answer is up to a second old
		// when it arrives: max-age=2 leaves it fresh for at least one.
		w.Header().Set("Cache-Control", "max-age=2")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "version one")
	})
	g := testkit.Start(t, cachedRoute(up.URL, "{}"))
	wantCached(t, get(t, g.URL+"/catalog/doc"), 200, "MISS", "version one")
	time.Sleep(3100 * time.Millisecond)
	wantCached(t, get(t, g.URL+"/catalog/doc"), 200, "REVALIDATED", "version one")
	if v, _ := seen.Load(int64(2)); v != `"v1"` {
		t.Fatalf("revalidation sent If-None-Match %q, want \"v1\"", v)
	}
	wantCached(t, get(t, g.URL+"/catalog/doc"), 200, "HIT", "version one")
	r := get(t, g.URL+"/catalog/doc", `If-None-Match: "v1"`)
	if r.Status != 304 || len(r.Body) != 0 || r.Header.Get("ETag") != `"v1"` {
		t.Fatalf("conditional GET = %d %q ETag %q, want 304 with the ETag", r.Status, r.Body, r.Header.Get("ETag"))
	}
	up.wantCalls(t, 2)
}

// TestCacheCoalescesColdRequests: 50 clients asking for a cold key at once
// cause one upstream request and all get its answer.
func TestCacheCoalescesColdRequests(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		time.Sleep(500 * time.Millisecond)
		fmt.Fprintf(w, "slow answer %d", n)
	})
	g := testkit.Start(t, cachedRoute(up.URL, "{ttl: 30s}"))
	for i, r := range burst(t, 50, g.URL+"/catalog/cold") {
		if r.Status != 200 || string(r.Body) != "slow answer 1" {
			t.Fatalf("client %d got %d %q, want the one answer", i, r.Status, r.Body)
		}
	}
	up.wantCalls(t, 1)
}

// TestCacheConsumersApart: on a route keyed by consumer, a consumer never
// receives another consumer's cached answer; a route with authentication
// not keyed by consumer does not cache. Hits are metered like any answer,
// with the units of the stored answer.
func TestCacheConsumersApart(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("X-Usage-Units", "7")
		fmt.Fprintf(w, "for %s #%d", r.Header.Get("X-Consumer-ID"), n)
	})
	g := testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
usage: {flush_interval: 100ms}
auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    api_keys: [{key: acme-key-0123456789}]
  - id: globex
    api_keys: [{key: globex-key-0123456789}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: mine
    match: {path_prefix: /mine}
    upstream: app
    auth: [api_key]
    units_header: X-Usage-Units
    cache: {ttl: 30s, vary_by: [consumer]}
  - name: shared
    match: {path_prefix: /shared}
    upstream: app
    auth: [api_key]
    cache: {ttl: 30s}
`, filepath.Join(t.TempDir(), "gantry.db"), up.URL)))
	acme, globex := "X-API-Key: acme-key-0123456789", "X-API-Key: globex-key-0123456789"
	wantCached(t, get(t, g.URL+"/mine/profile", acme), 200, "MISS", "for acme #1")
	wantCached(t, get(t, g.URL+"/mine/profile", globex), 200, "MISS", "for globex #2")
	for range 4 {
		wantCached(t, get(t, g.URL+"/mine/profile", acme), 200, "HIT", "for acme #1")
		wantCached(t, get(t, g.URL+"/mine/profile", globex), 200, "HIT", "for globex #2")
	}
	if r := get(t, g.URL+"/mine/profile"); r.Status != 401 || r.Header.Get("X-Cache") != "" {
		t.Fatalf("anonymous request = %d X-Cache %q, want 401 before the cache", r.Status, r.Header.Get("X-Cache"))
	}
	up.wantCalls(t, 2)
	wantCached(t, get(t, g.URL+"/shared/profile", acme), 200, "BYPASS", "for acme #3")
	wantCached(t, get(t, g.URL+"/shared/profile", globex), 200, "BYPASS", "for globex #4")
	// 5 answers each on /mine (1 miss, 4 hits) and 1 on /shared; the
	// units header of the stored answer counts on every hit.
	sum := waitUsage(t, g, "acme", 6)
	if sum.Requests != 6 || sum.Units < 35 {
		t.Fatalf("acme usage = %d requests, %d units; want 6 requests and 5x7 units from /mine", sum.Requests, sum.Units)
	}
}

// TestCachePurgeAndReload: DELETE /admin/cache drops a path's entries or
// the route's; a reload drops the entries of the routes it changes only.
func TestCachePurgeAndReload(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	})
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: app
    cache: {ttl: 30s}
  - name: news
    match: {path_prefix: /news}
    upstream: app
    cache: {ttl: 30s}
`, up.URL)))
	wantCached(t, get(t, g.URL+"/catalog/a"), 200, "MISS", "/catalog/a #1")
	wantCached(t, get(t, g.URL+"/catalog/a?page=2"), 200, "MISS", "/catalog/a #2")
	wantCached(t, get(t, g.URL+"/catalog/b"), 200, "MISS", "/catalog/b #3")
	wantCached(t, get(t, g.URL+"/news/today"), 200, "MISS", "/news/today #4")

	if status, body := g.Admin("DELETE", "/admin/cache?route=catalog&path=/catalog/a", ""); status != 200 {
		t.Fatalf("purge path = %d %s", status, body)
	}
	wantCached(t, get(t, g.URL+"/catalog/a"), 200, "MISS", "/catalog/a #5")
	wantCached(t, get(t, g.URL+"/catalog/a?page=2"), 200, "MISS", "/catalog/a #6")
	wantCached(t, get(t, g.URL+"/catalog/b"), 200, "HIT", "/catalog/b #3")

	if status, body := g.Admin("DELETE", "/admin/cache?route=catalog", ""); status != 200 {
		t.Fatalf("purge route = %d %s", status, body)
	}
	wantCached(t, get(t, g.URL+"/catalog/b"), 200, "MISS", "/catalog/b #7")
	wantCached(t, get(t, g.URL+"/news/today"), 200, "HIT", "/news/today #4")
	if status, _ := g.Admin("DELETE", "/admin/cache?route=nosuch", ""); status != 404 {
		t.Fatalf("purge of an unknown route = %d, want 404", status)
	}
	if status, _ := g.Admin("DELETE", "/admin/cache", ""); status != 400 {
		t.Fatalf("purge without a route = %d, want 400", status)
	}

	// A reload that changes catalog only: its entries go, news keeps its.
	rewriteConfig(t, g.ConfigPath, "path_prefix: /catalog}\n    upstream: app\n    cache: {ttl: 30s}", "path_prefix: /catalog}\n    upstream: app\n    cache: {ttl: 31s}")
	if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
		t.Fatalf("reload = %d %s", status, body)
	}
	wantCached(t, get(t, g.URL+"/catalog/b"), 200, "MISS", "/catalog/b #8")
	wantCached(t, get(t, g.URL+"/news/today"), 200, "HIT", "/news/today #4")
}

// TestCacheRedisSharedByNodes: with the redis store, a second gateway
// hits what the first stored, and a purge on one is seen by the other.
func TestCacheRedisSharedByNodes(t *testing.T) {
	url := redisURL(t)
	prefix := redisPrefix(t, url)
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "shared #%d", n)
	})
	node := func() *testkit.Gantry {
		return testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
counters: {key_prefix: %q}
cache: {store: redis, redis_url: %q}
upstreams:
  catalog: {targets: [{url: %q}]}
routes:
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: catalog
    cache: {ttl: 30s}
`, filepath.Join(t.TempDir(), "gantry.db"), prefix, url, up.URL)))
	}
	a, b := node(), node()
	wantCached(t, get(t, a.URL+"/catalog/x"), 200, "MISS", "shared #1")
	wantCached(t, get(t, b.URL+"/catalog/x"), 200, "HIT", "shared #1")
	wantCached(t, get(t, a.URL+"/catalog/x"), 200, "HIT", "shared #1")
	if status, body := b.Admin("DELETE", "/admin/cache?route=catalog&path=/catalog/x", ""); status != 200 {
		t.Fatalf("purge = %d %s", status, body)
	}
	wantCached(t, get(t, a.URL+"/catalog/x"), 200, "MISS", "shared #2")
	wantCached(t, get(t, b.URL+"/catalog/x"), 200, "HIT", "shared #2")
	if status, body := a.Admin("DELETE", "/admin/cache?route=catalog", ""); status != 200 {
		t.Fatalf("purge route = %d %s", status, body)
	}
	wantCached(t, get(t, b.URL+"/catalog/x"), 200, "MISS", "shared #3")
	up.wantCalls(t, 3)
}

// TestCacheAfterRateLimit: a route's rate limit applies before the cache,
// so hits take tokens too; /metrics counts each result and the memory
// store's size, and the access log records the result.
func TestCacheAfterRateLimit(t *testing.T) {
	up := newCacheUpstream(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "limited #%d", n)
	})
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  catalog: {targets: [{url: %q}]}
routes:
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: catalog
    rate_limit: {requests: 3, per: 1h}
    cache: {ttl: 1h}
`, up.URL)))
	wantCached(t, get(t, g.URL+"/catalog/x"), 200, "MISS", "limited #1")
	wantCached(t, get(t, g.URL+"/catalog/x"), 200, "HIT", "limited #1")
	wantCached(t, get(t, g.URL+"/catalog/x", "X-Request-ID: cache-hit-2"), 200, "HIT", "limited #1")
	if r := get(t, g.URL+"/catalog/x"); r.Status != 429 || r.Header.Get("X-Cache") != "" {
		t.Fatalf("fourth request = %d X-Cache %q, want 429 from the limit, before the cache", r.Status, r.Header.Get("X-Cache"))
	}
	up.wantCalls(t, 1)
	ss, _ := metricsOf(t, g)
	for result, want := range map[string]float64{"hit": 2, "miss": 1} {
		if v, _ := value(ss, "gantry_cache_requests_total", "route", "catalog", "result", result); v != want {
			t.Errorf("gantry_cache_requests_total{result=%q} = %v, want %v", result, v, want)
		}
	}
	if v, ok := value(ss, "gantry_cache_entries"); !ok || v < 1 {
		t.Errorf("gantry_cache_entries = %v (present %v), want at least 1", v, ok)
	}
	if v, ok := value(ss, "gantry_cache_bytes"); !ok || v <= 0 {
		t.Errorf("gantry_cache_bytes = %v (present %v), want > 0", v, ok)
	}
	var line string
	for deadline := time.Now().Add(3 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for l := range strings.SplitSeq(g.Stdout(), "\n") {
			if strings.Contains(l, `"request_id":"cache-hit-2"`) {
				line = l
			}
		}
	}
	if !strings.Contains(line, `"cache":"hit"`) || !strings.Contains(line, `"upstream":""`) {
		t.Errorf("access log line of a hit = %q, want \"cache\":\"hit\" and no upstream", line)
	}
}
