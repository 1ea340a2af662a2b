package server

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/gantry-dev/gantry/bench"
	"github.com/gantry-dev/gantry/internal/config"
)

// routeHeap returns what a server on bench.RoutesConfig(n) holds per
// route, its decoded configuration included, once collected: live, the
// heap's live objects, and inUse, the heap spans that hold them (what
// stays resident). Each is the value after New less the value before the
// config was parsed.
func routeHeap(tb testing.TB, n int) (live, inUse float64) {
	tb.Helper()
	tb.Setenv("BENCH_LISTEN", "127.0.0.1:0")
	tb.Setenv("BENCH_ADMIN", "127.0.0.1:0")
	tb.Setenv("BENCH_DATA", tb.TempDir())
	tb.Setenv("BENCH_UPSTREAM", "http://127.0.0.1:9")
	data := bench.RoutesConfig(n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, beforeInUse := ms.HeapAlloc, ms.HeapInuse
	cfg, err := config.Parse(data, "gantry.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	cfg = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s)
	per := func(after, before uint64) float64 { return float64(int64(after)-int64(before)) / float64(n) }
	return per(ms.HeapAlloc, before), per(ms.HeapInuse, beforeInUse)
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
	got, _ := routeHeap(t, n)
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
			var live, inUse float64
			for b.Loop() {
				live, inUse = routeHeap(b, n)
			}
			b.ReportMetric(live, "bytes/route")
			b.ReportMetric(inUse, "inuse-bytes/route")
		})
	}
}

// TestRouteHeapInUse guards what a large table keeps resident beyond its
// live objects: small objects kept between the garbage of decoding and
// planning pin pages mostly empty. With 10,000 routes that was 1,360 to
// 1,450 bytes of heap spans per route for about 975 of live objects; the
// config's values in slabs of their own (config's interner), pattern
// segments allocated once and the collector paced tighter while planning
// (tightGC) bring it to 1,015 to 1,070, and a short list instead of a map
// for the exact paths of a host's bucket to about 1,010 (898 live). The bound leaves room for the
// runtime's and the race detector's variations, not for the pinning to
// come back.
func TestRouteHeapInUse(t *testing.T) {
	const n, budget = 10000, 1200
	live, inUse := routeHeap(t, n)
	t.Logf("%.0f bytes of heap spans per route for %.0f live", inUse, live)
	if inUse > budget {
		t.Errorf("a server on %d routes holds %.0f bytes of heap spans per route (%.0f of live objects), want at most %d", n, inUse, live, budget)
	}
}
