package server

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// After a connection storm the memory it took (goroutine stacks, the HTTP
// server's per-connection buffers) is garbage, but an idle gateway
// allocates too little to start a garbage collection, so the runtime
// neither frees it nor returns it to the operating system: measured, 3,000
// connections left 64 MB of RSS behind for minutes, until the two-minute
// forced collection, and then only as fast as the background scavenger
// goes. releaser watches the open connections and, once a storm has
// ebbed, collects and returns the free memory at once.

// Defaults of the releaser: it looks every releaseEvery, and acts when the
// open connections fell by at least releaseDrop and to at most half of
// their peak since it last acted.
const (
	releaseEvery = time.Second
	releaseDrop  = 512
)

// releaser decides when to give memory back. It is driven by one goroutine.
type releaser struct {
	// open returns the client connections open now.
	open func() int64
	// free collects and returns free memory to the operating system.
	free func()
	drop int64
	peak int64
}

func newReleaser(open func() int64) *releaser {
	return &releaser{open: open, free: freeMemory, drop: releaseDrop}
}

// tick looks at the open connections once and reports whether it freed
// memory.
func (r *releaser) tick() bool {
	n := r.open()
	if n > r.peak {
		r.peak = n
		return false
	}
	if r.peak-n < r.drop || n > r.peak/2 {
		return false
	}
	r.free()
	r.peak = n
	return true
}

// run ticks every releaseEvery until ctx ends.
func (r *releaser) run(ctx context.Context) {
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

// freeMemory runs two collections, so that what sat in sync.Pools (the HTTP
// server pools its buffers there) is freed too, and returns every free page
// to the operating system. It costs one stop-the-world pause per collection
// (well under a millisecond) and the marking of the live heap, once per
// storm.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
