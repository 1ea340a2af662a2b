package telemetry

import (
	"strings"
	"testing"
)

func TestCacheMetrics(t *testing.T) {
	m := NewMetrics()
	if got, _ := scrape(t, m); hasPrefix(got, "gantry_cache_") {
		t.Fatal("cache series before any cached route served")
	}
	hit := m.CacheCounter("catalog", "hit")
	hit.Inc()
	hit.Inc()
	m.CacheCounter("catalog", "miss").Inc()
	m.CacheCounter("news", "bypass").Inc()
	m.CacheStore(func() float64 { return 4096 }, func() float64 { return 3 })
	got, _ := scrape(t, m)
	for series, want := range map[string]string{
		`gantry_cache_requests_total{result="hit",route="catalog"}`:  "2",
		`gantry_cache_requests_total{result="miss",route="catalog"}`: "1",
		`gantry_cache_requests_total{result="bypass",route="news"}`:  "1",
		`gantry_cache_bytes`:   "4096",
		`gantry_cache_entries`: "3",
	} {
		if got[series] != want {
			t.Errorf("%s = %q, want %s", series, got[series], want)
		}
	}
	// A reload that drops a route drops its cache series.
	m.Route("news")
	m.RetainRoutes([]string{"catalog"})
	got, _ = scrape(t, m)
	if _, ok := got[`gantry_cache_requests_total{result="bypass",route="news"}`]; ok {
		t.Error("the dropped route's cache series is still exported")
	}
	if got[`gantry_cache_requests_total{result="hit",route="catalog"}`] != "2" {
		t.Error("the kept route's cache series is gone")
	}
}

func hasPrefix(series map[string]string, prefix string) bool {
	for k := range series {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
