package server

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// The collector's target (GOGC) has one owner in the process: pace. Two
// things move it, and both go through pace.apply:
//
//   - Planning a generation (tightGC) lowers it to planGCPercent while the
//     plan runs.
//   - Headroom: after every collection the target is raised so that the
//     next collection comes only after at least gcHeadroom bytes were
//     allocated, not after as many bytes as the live heap holds. A
//     gateway's live heap is small (a few MiB with a small configuration)
//     and each request allocates a few KiB, so at GOGC=100 the collector
//     ran every ~1,500 requests, and while it marks it takes one of the
//     process's CPUs: at 2,000 req/s that put the collector under about 1%
//     of the requests and was the whole of the gateway's added p99 above
//     NGINX's (0.52 ms against 0.09 ms with the collector off, measured
//     with make bench's fixed-rate run). With the headroom a collection
//     comes a few times less often, each no dearer (marking costs what the
//     live heap costs, not what it grew by), and the heap peaks at the
//     live heap plus gcHeadroom, which the releaser gives back when a busy
//     spell ends. A heap larger than gcHeadroom keeps GOGC's doubling.
//
// An operator who sets GOGC keeps it: the headroom is not applied then.

// planGCPercent is the collector's target (GOGC) while a generation is
// planned.
const planGCPercent = 25

// gcHeadroom is the least the heap may grow between collections;
// maxGCPercent bounds the target it leads to for a tiny live heap.
const (
	gcHeadroom   = 16 << 20
	maxGCPercent = 1000
)

// paceState is the collector target's state; pace is the process's.
type paceState struct {
	sync.Mutex
	// read says base and headroom were read; started, that collections
	// are watched.
	read, started bool
	// base is the target the process started with (GOGC, 100 when not
	// set; negative: off); headroom says it may be raised (GOGC not set).
	base     int
	headroom bool
	// plans is the number of plans running (tightGC).
	plans int
	// live is the live heap the last collection left; percent is the
	// target set now.
	live    uint64
	percent int
}

var pace paceState

// startPace starts applying the headroom after each collection, unless
// the operator set GOGC. Idempotent.
func startPace() {
	pace.Lock()
	defer pace.Unlock()
	pace.init()
	if !pace.headroom || pace.started {
		return
	}
	pace.started = true
	armCollection()
}

// init reads the starting target once; p is locked.
func (p *paceState) init() {
	if p.read {
		return
	}
	p.read = true
	p.base = debug.SetGCPercent(100)
	debug.SetGCPercent(p.base)
	p.percent = p.base
	_, set := os.LookupEnv("GOGC")
	p.headroom = !set && p.base > 0
}

// tightGC paces the collector at planGCPercent until the returned function
// is called, unless GOGC is already as low or off. Planning a large
// configuration allocates several times what it keeps, and what it keeps
// (closures, pattern segments, index nodes) sits in the same small size
// classes as the garbage: at the default pace a collection frees that
// garbage only every doubling of the heap, so what is kept lands between
// it and, once it is freed, holds pages mostly empty for the life of the
// generation. Collecting more often reuses the freed slots while the
// generation is built: measured with 10,000 routes, about 1 MiB less heap
// in use once idle, for three more collections during the plan (tens of
// milliseconds). It also lowers the heap's peak during a reload.
// Plans can overlap (servers in one process, as in tests), so the first
// to start lowers the target and the last to end restores it.
func tightGC() (restore func()) {
	pace.Lock()
	defer pace.Unlock()
	pace.init()
	pace.plans++
	pace.apply()
	return func() {
		pace.Lock()
		defer pace.Unlock()
		pace.plans--
		pace.apply()
	}
}

// paceTarget is the collector's target for a state: planGCPercent while
// a plan runs (unless the base is lower or off), else the base raised for
// the headroom over the live heap.
func paceTarget(base int, headroom bool, plans int, live uint64) int {
	switch {
	case base < 0:
		return base
	case plans > 0:
		return min(base, planGCPercent)
	case !headroom || live == 0:
		return base
	}
	p := (uint64(gcHeadroom)*100 + live - 1) / live
	return max(base, int(min(p, maxGCPercent)))
}

// apply sets the target the state calls for; p is locked. Moves of the
// headroom's target by less than an eighth are skipped: the heap's goal
// hardly changes, and each SetGCPercent takes the heap's lock.
func (p *paceState) apply() {
	want := paceTarget(p.base, p.headroom, p.plans, p.live)
	if want == p.percent {
		return
	}
	if p.plans == 0 && p.percent > p.base && want > p.base && abs(want-p.percent)*8 < p.percent {
		return
	}
	debug.SetGCPercent(want)
	p.percent = want
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// armCollection sets a sentinel that nothing keeps: the collection that
// finds it unreachable runs its cleanup, which reads the live heap, sets
// the target and arms the next one.
func armCollection() {
	s := new(gcSentinel)
	runtime.AddCleanup(s, func(struct{}) { afterCollection() }, struct{}{})
}

// gcSentinel holds a pointer so that it is not a tiny allocation, whose
// cleanup might wait for its neighbours.
type gcSentinel struct{ _ *byte }

func afterCollection() {
	live := readHeap().live
	pace.Lock()
	defer pace.Unlock()
	if live > 0 {
		pace.live = live
	}
	pace.apply()
	armCollection()
}
