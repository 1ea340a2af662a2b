package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// The collector's pacing through the binary (internal/server/pace.go):
// without GOGC in the environment, a small gateway's first collections
// raise the target above Go's 100 (a 16 MiB headroom over a live heap of
// a few MiB); with GOGC set, the operator's value stays. The releaser's
// first quiet tick collects, so a collection comes within seconds of the
// start even with no traffic.
func TestCollectorPacing(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the test's environment; the gateway inherits it")
	}
	t.Parallel()
	gogc := func(g *testkit.Gantry, want func(float64) bool) float64 {
		var v float64
		deadline := time.Now().Add(15 * time.Second)
		for {
			get(t, g.URL+"/warm")
			v = metric(t, g, "go_gc_gogc_percent")
			if want(v) || time.Now().After(deadline) {
				return v
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Run("headroom", func(t *testing.T) {
		t.Parallel()
		g := testkit.Start(t, twoUpstreams(t, "blue"))
		if v := gogc(g, func(v float64) bool { return v > 100 }); v <= 100 {
			t.Errorf("go_gc_gogc_percent = %v after the first collections, want above 100 (the headroom)", v)
		}
	})
	t.Run("operator's GOGC", func(t *testing.T) {
		t.Parallel()
		g := testkit.Start(t, twoUpstreams(t, "blue"), "GOGC=150")
		// Give the releaser's collection time to happen, then check.
		time.Sleep(2500 * time.Millisecond)
		if v := gogc(g, func(float64) bool { return true }); v != 150 {
			t.Errorf("go_gc_gogc_percent = %v with GOGC=150, want 150", v)
		}
	})
}
