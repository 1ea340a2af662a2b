package server

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPaceTarget(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		base     int
		headroom bool
		plans    int
		live     uint64
		want     int
	}{
		{name: "small heap raised to the headroom", base: 100, headroom: true, live: 4 * mib, want: 400},
		{name: "rounded up", base: 100, headroom: true, live: 3 * mib, want: 534},
		{name: "tiny heap capped", base: 100, headroom: true, live: mib, want: maxGCPercent},
		{name: "heap above the headroom keeps the base", base: 100, headroom: true, live: 32 * mib, want: 100},
		{name: "headroom equal to the heap", base: 100, headroom: true, live: 16 * mib, want: 100},
		{name: "higher base kept", base: 800, headroom: true, live: 4 * mib, want: 800},
		{name: "no collection yet", base: 100, headroom: true, live: 0, want: 100},
		{name: "operator's GOGC", base: 100, headroom: false, live: 4 * mib, want: 100},
		{name: "planning", base: 100, headroom: true, plans: 1, live: 4 * mib, want: planGCPercent},
		{name: "planning under a lower base", base: 10, headroom: false, plans: 2, want: 10},
		{name: "off stays off", base: -1, headroom: false, plans: 1, live: 4 * mib, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paceTarget(tt.base, tt.headroom, tt.plans, tt.live); got != tt.want {
				t.Errorf("paceTarget(%d, %v, %d, %d) = %d, want %d", tt.base, tt.headroom, tt.plans, tt.live, got, tt.want)
			}
		})
	}
}

// gcPercent reads the collector's target without setting it.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// After a collection the target follows the live heap, a plan lowers it
// while it runs, and its end gives the headroom's target back.
func TestPaceFollowsCollections(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the headroom is not applied")
	}
	startPace()
	pace.Lock()
	pace.live = 0
	pace.Unlock()
	runtime.GC()
	deadline := time.Now().Add(5 * time.Second)
	var live uint64
	for time.Now().Before(deadline) {
		pace.Lock()
		live = pace.live
		pace.Unlock()
		if live > 0 {
			break
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if live == 0 {
		t.Fatal("no collection was seen within 5s")
	}
	pace.Lock()
	want := pace.percent
	pace.Unlock()
	if live < gcHeadroom && want <= 100 {
		t.Errorf("live heap %d B below the headroom, target %d: want it raised above 100", live, want)
	}
	if got := gcPercent(); got != want {
		t.Errorf("runtime's GOGC %d, pace says %d", got, want)
	}
	restore := tightGC()
	if got := gcPercent(); got != planGCPercent {
		t.Errorf("GOGC while planning = %d, want %d", got, planGCPercent)
	}
	restore()
	pace.Lock()
	want = pace.percent
	pace.Unlock()
	if got := gcPercent(); got != want {
		t.Errorf("GOGC after the plan = %d, want %d", got, want)
	}
}
