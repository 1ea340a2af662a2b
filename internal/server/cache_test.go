package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestReloadPurgesChangedCachedRoutes: a reload frees the memory store's
// entries of the cached routes it changes or removes, and keeps those of
// the routes it leaves alone.
func TestReloadPurgesChangedCachedRoutes(t *testing.T) {
	t.Parallel()
	up := testkit.NewEcho(t, "catalog")
	routes := func(catalogTTL string) string {
		return `  - name: catalog
    match: {path_prefix: /catalog}
    upstream: app
    cache: {ttl: ` + catalogTTL + `}
  - name: news
    match: {path_prefix: /news}
    upstream: app
    cache: {ttl: 1h}
`
	}
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	writeFile(t, path, gatewayConfig(up.URL, routes("1h")))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mem := cache.NewMemory(1 << 20)
	s, err := New(Options{Config: cfg, ConfigPath: path, Cache: cache.New(cache.Options{Store: mem})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	get := func(p string) string {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", p, rec.Code)
		}
		return rec.Header().Get("X-Cache")
	}
	for _, p := range []string{"/catalog/a", "/catalog/b", "/news/today"} {
		if got := get(p); got != "MISS" {
			t.Fatalf("GET %s X-Cache = %q, want MISS", p, got)
		}
	}
	if n := mem.Entries(); n != 3 {
		t.Fatalf("Entries() = %d after three misses, want 3", n)
	}
	writeFile(t, path, gatewayConfig(up.URL, routes("2h")))
	if res := s.Reload(); !res.OK {
		t.Fatalf("Reload() = %+v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mem.Entries() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := mem.Entries(); n != 1 {
		t.Fatalf("Entries() = %d after the reload changed catalog, want news's 1", n)
	}
	if got := get("/news/today"); got != "HIT" {
		t.Fatalf("news after the reload: X-Cache = %q, want HIT", got)
	}
	if got := get("/catalog/a"); got != "MISS" {
		t.Fatalf("catalog after the reload: X-Cache = %q, want MISS", got)
	}
}
