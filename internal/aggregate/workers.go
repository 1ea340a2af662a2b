package aggregate

import (
	"sync"
	"time"
)

// Calls run on goroutines that outlive them. A new goroutine's stack
// starts small and grows by copying as a call goes down the HTTP client
// (about 18% of an aggregate route's CPU with three calls, measured with
// perf); a worker that served a call keeps its grown stack for the next.
// Idle workers are bounded in number and time: a burst of calls leaves at
// most maxIdleWorkers behind, and those end after workerIdle unused.
const (
	maxIdleWorkers = 128
	workerIdle     = 30 * time.Second
)

// workers is the process's pool; every aggregate route shares it.
var workers workerPool

type workerPool struct {
	mu sync.Mutex
	// idle holds the waiting workers, most recently used last: the warm
	// ones serve first and the cold ones age out at the front.
	idle []*worker
	// sweep ends the workers idle for longer than workerIdle; armed says
	// it is scheduled (a timer, so nothing runs while the pool is empty).
	sweep *time.Timer
	armed bool
}

type worker struct {
	calls  chan task
	idleAt time.Time
}

// task is one function for a worker: f, or else g(rn, i). g is a method
// expression of run, so a request's calls go to workers with no closure
// allocated for them.
type task struct {
	f  func()
	g  func(*run, int)
	rn *run
	i  int
}

func (t task) run() {
	if t.f != nil {
		t.f()
		return
	}
	t.g(t.rn, t.i)
}

// Go runs f on an idle worker, or on a new one.
func (p *workerPool) Go(f func()) { p.start(task{f: f}) }

// GoWith runs g(rn, i) on an idle worker, or on a new one.
func (p *workerPool) GoWith(g func(*run, int), rn *run, i int) { p.start(task{g: g, rn: rn, i: i}) }

func (p *workerPool) start(f task) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// Buffered: the worker is waiting for it or about to.
		w.calls <- f
		return
	}
	p.mu.Unlock()
	w := &worker{calls: make(chan task, 1)}
	w.calls <- f
	go p.serve(w)
}

// serve runs w's calls until the pool closes its channel or has no room
// for it.
func (p *workerPool) serve(w *worker) {
	for f := range w.calls {
		f.run()
		if !p.put(w) {
			return
		}
	}
}

// put makes w idle; false when the pool is full (w ends).
func (p *workerPool) put(w *worker) bool {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= maxIdleWorkers {
		return false
	}
	w.idleAt = now
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		if p.sweep == nil {
			p.sweep = time.AfterFunc(workerIdle+time.Second, p.sweepIdle)
		} else {
			p.sweep.Reset(workerIdle + time.Second)
		}
	}
	return true
}

// sweepIdle ends the workers idle for workerIdle or longer and schedules
// itself for when the oldest of the others will be.
func (p *workerPool) sweepIdle() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) >= workerIdle {
		close(p.idle[i].calls)
		i++
	}
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n > 0 {
		p.sweep.Reset(workerIdle - now.Sub(p.idle[0].idleAt) + time.Second)
	} else {
		p.armed = false
	}
}

// closeIdle ends every idle worker.
func (p *workerPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.idle {
		close(w.calls)
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

// idleWorkers returns how many workers wait.
func (p *workerPool) idleWorkers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
