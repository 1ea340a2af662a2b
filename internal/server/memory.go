package server

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a connection storm the memory it took (goroutine stacks, the HTTP
// server's per-connection buffers) is garbage, but an idle gateway
// allocates too little to start a garbage collection, so the runtime
// neither frees it nor returns it to the operating system: measured, 3,000
// connections left 64 MB of RSS behind for minutes, until the two-minute
// forced collection, and then only as fast as the background scavenger
// goes. The same holds after any busy spell, storm or not: the heap stays
// at the collector's goal (twice the live heap), and after compiling a
// large configuration (10,000 routes: some 30 MB freed, at start and at
// every reload). releaser watches the open connections and the
// allocation rate and gives the memory back at once when a storm has
// ebbed or a busy spell has ended.

// Defaults of the releaser: it looks every releaseEvery, and acts when the
// open connections fell by at least releaseDrop and to at most half of
// their peak since it last acted, or when a busy spell has ended: a tick
// allocated more than releaseBusy bytes since it last acted (or the
// process started, compiling its configuration), the last one at most
// releaseQuiet, and at least releaseIdle bytes of heap are garbage or free
// but not returned (or it never acted yet). Steady traffic between the two
// rates never triggers it, so the collector paces itself as usual.
const (
	releaseEvery = time.Second
	releaseDrop  = 512
	releaseBusy  = 8 << 20
	releaseQuiet = 1 << 20
	releaseIdle  = 2 << 20
)

// heapState is what the releaser reads of the heap.
type heapState struct {
	// allocs is the bytes allocated since the process started.
	allocs uint64
	// unreturned is the heap the operating system still backs that holds
	// no live object: garbage not yet collected and free pages not yet
	// returned.
	unreturned uint64
	// live is the heap the last collection found reachable.
	live uint64
}

// releaser decides when to give memory back. It is driven by one goroutine.
type releaser struct {
	// open returns the client connections open now.
	open func() int64
	// heap reads the heap's state.
	heap func() heapState
	// free collects and returns free memory to the operating system.
	free func()

	drop              int64
	busy, quiet, idle uint64

	peak   int64
	allocs uint64 // heap().allocs at the last tick
	// spell is whether a tick was busy since the releaser last acted;
	// fresh, that it never acted: the first quiet tick after the start
	// acts even with little heap to return, for the start's code (the
	// packages' initialization, the configuration's compile), which held
	// some 20 MiB of RSS through the first busy spell otherwise.
	spell, fresh bool
}

func newReleaser(open func() int64) *releaser {
	return &releaser{open: open, heap: readHeap, free: freeMemory, drop: releaseDrop,
		busy: releaseBusy, quiet: releaseQuiet, idle: releaseIdle, spell: true, fresh: true}
}

// tick looks at the open connections and the heap once and reports
// whether it freed memory.
func (r *releaser) tick() bool {
	n := r.open()
	h := r.heap()
	d := h.allocs - r.allocs
	r.allocs = h.allocs
	if d > r.busy {
		r.spell = true
	}
	if n > r.peak {
		r.peak = n
	}
	ebbed := r.peak-n >= r.drop && n <= r.peak/2
	ended := r.spell && d <= r.quiet && (r.fresh || h.unreturned >= r.idle)
	if !ebbed && !ended {
		return false
	}
	r.free()
	r.peak, r.spell, r.fresh = n, false, false
	return true
}

// run ticks every releaseEvery until ctx ends.
func (r *releaser) run(ctx context.Context) {
	r.allocs = r.heap().allocs
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.tick()
		}
	}
}

// heapSamples are the runtime metrics readHeap reads, in this order.
var heapSamples = [...]string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/free:bytes",
}

// readHeap reads the heap's state from the runtime (for the releaser and
// the collector's pacing). It does not stop the world.
func readHeap() heapState {
	var s [len(heapSamples)]metrics.Sample
	for i, name := range heapSamples {
		s[i].Name = name
	}
	metrics.Read(s[:])
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	h := heapState{allocs: u(0), unreturned: u(3), live: u(2)}
	// Objects allocated since the last collection are counted as garbage
	// until the next one says otherwise: an idle gateway allocates little,
	// and what it allocated while busy is mostly dead.
	if objects, live := u(1), u(2); objects > live {
		h.unreturned += objects - live
	}
	return h
}

// freeMemory runs two collections, so that what sat in sync.Pools (the HTTP
// server pools its buffers there) is freed too, returns every free page
// to the operating system, and unmaps the executable's pages (releaseCode),
// so that what the start or the busy spell ran once leaves the RSS. It costs one stop-the-world pause per collection
// (well under a millisecond) and the marking of the live heap, once per
// storm or busy spell.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	releaseCode()
}
