package server

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/gantry-dev/gantry/bench"
	"github.com/gantry-dev/gantry/internal/config"
)

// routeBytes returns the live heap a server on bench.RoutesConfig(n) holds
// per route, its decoded configuration included: the heap after New and a
// collection, less the heap before the config was parsed.
func routeBytes(tb testing.TB, n int) float64 {
	tb.Helper()
	tb.Setenv("BENCH_LISTEN", "127.0.0.1:0")
	tb.Setenv("BENCH_ADMIN", "127.0.0.1:0")
	tb.Setenv("BENCH_DATA", tb.TempDir())
	tb.Setenv("BENCH_UPSTREAM", "http://127.0.0.1:9")
	data := bench.RoutesConfig(n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	cfg, err := config.Parse(data, "gantry.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s)
	return float64(int64(ms.HeapAlloc)-int64(before)) / float64(n)
}

// A route that has not served costs its configuration, its compiled
// match and its chain, not metric series (about 1.7 KiB of them, created
// on its first request), idle WebSocket and gRPC handles, a ReverseProxy
// and logger of its own or the key paths' lines of the file: 4.3 KiB per
// route at first, 1.3 KiB once those went, about 1.0 KiB (at 2,000 routes)
// since the compiled match keeps no segments for static paths, no map per
// trie node and no per-route copy of its upstream's proxy settings. The
// bound leaves room for the runtime's and the race detector's variations,
// not for any of those to come back.
func TestRouteMemory(t *testing.T) {
	const n, budget = 2000, 1200
	got := routeBytes(t, n)
	t.Logf("%.0f bytes per route", got)
	if got > budget {
		t.Errorf("a server on %d routes holds %.0f bytes of heap per route, want at most %d", n, got, budget)
	}
}

// BenchmarkRouteMemory reports the live heap per route (bytes/route) of a
// server on the many-routes benchmark's configuration, for
// docs/benchmarks.md ("Many routes").
func BenchmarkRouteMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = routeBytes(b, n)
			}
			b.ReportMetric(per, "bytes/route")
		})
	}
}
