package aggregate

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitIdle waits until p holds want idle workers.
func waitIdle(t *testing.T, p *workerPool, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.idleWorkers() != want {
		if time.Now().After(deadline) {
			t.Fatalf("idle workers = %d, want %d", p.idleWorkers(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkerPoolReusesWorkers(t *testing.T) {
	var p workerPool
	defer p.closeIdle()
	ids := make(chan uint64, 2)
	for range 2 {
		p.Go(func() { ids <- goroutineID() })
		waitIdle(t, &p, 1)
	}
	if a, b := <-ids, <-ids; a != b {
		t.Errorf("two calls one after another ran on goroutines %d and %d, want one worker", a, b)
	}
}

// GoWith runs g with its run and argument, on the worker Go uses, and
// costs no allocation of its own: the task travels by value.
func TestWorkerPoolGoWith(t *testing.T) {
	var p workerPool
	defer p.closeIdle()
	got := make(chan [2]uint64, 3)
	rn := &run{}
	g := func(r *run, i int) {
		if r != rn {
			t.Errorf("call %d ran with another run", i)
		}
		got <- [2]uint64{uint64(i), goroutineID()}
	}
	var worker uint64
	for i := range 3 {
		p.GoWith(g, rn, i)
		waitIdle(t, &p, 1)
		r := <-got
		if r[0] != uint64(i) {
			t.Errorf("call %d ran with argument %d", i, r[0])
		}
		if i == 0 {
			worker = r[1]
		} else if r[1] != worker {
			t.Errorf("call %d ran on goroutine %d, want the worker %d", i, r[1], worker)
		}
	}
	sink := func(*run, int) {}
	if n := testing.AllocsPerRun(100, func() {
		p.GoWith(sink, rn, 1)
		waitIdle(t, &p, 1)
	}); n != 0 {
		t.Errorf("GoWith allocated %v times per call, want 0", n)
	}
}

func TestWorkerPoolBoundsIdle(t *testing.T) {
	var p workerPool
	defer p.closeIdle()
	n := maxIdleWorkers + 20
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	for range n {
		p.Go(func() {
			started.Done()
			release.Wait()
		})
	}
	started.Wait() // n workers at once
	release.Done()
	waitIdle(t, &p, maxIdleWorkers)
	time.Sleep(20 * time.Millisecond)
	if got := p.idleWorkers(); got != maxIdleWorkers {
		t.Errorf("idle workers = %d after %d calls at once, want the bound %d", got, n, maxIdleWorkers)
	}
}

func TestWorkerPoolSweepsIdle(t *testing.T) {
	var p workerPool
	defer p.closeIdle()
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	wg.Add(3)
	for range 3 {
		p.Go(func() { wg.Done(); time.Sleep(5 * time.Millisecond) })
	}
	wg.Wait()
	waitIdle(t, &p, 3)
	// Two have waited long enough, the newest not.
	p.mu.Lock()
	old := time.Now().Add(-workerIdle - time.Second)
	p.idle[0].idleAt, p.idle[1].idleAt = old, old
	p.mu.Unlock()
	p.sweepIdle()
	if got := p.idleWorkers(); got != 1 {
		t.Fatalf("idle workers after the sweep = %d, want 1", got)
	}
	p.mu.Lock()
	armed := p.armed
	p.mu.Unlock()
	if !armed {
		t.Error("sweep not rescheduled while a worker is idle")
	}
	p.closeIdle()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after closing the idle workers, %d before", n, before)
	}
}

// goroutineID reads the running goroutine's id from its stack header.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	// "goroutine 123 [running]:..."
	var id uint64
	for _, c := range b[len("goroutine "):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
