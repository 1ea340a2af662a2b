package aggregate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadline is the context of one aggregate: it ends when the request's
// does, when the aggregate calls its calls off (callOff), or at its
// deadline, and Err says which as context.WithDeadline's would
// (context.DeadlineExceeded for the deadline).
//
// It arms no timer until something waits for its end (Done; also
// context.AfterFunc, which asks Done first and then registers with the
// cancelable context under it, as the HTTP/1.1 client does once an
// answer is later than its short window): most aggregates end long
// before their timeout, and their calls only ask Deadline (for their
// connections' deadlines) and Err. context.WithTimeout would arm and stop
// a timer per request, with two allocations more. Until the timer is
// armed, Err compares the clock with the deadline.
type deadline struct {
	// Context is the cancelable context the aggregate's calls derive
	// from; the deadline's end cancels it too.
	context.Context
	cancel context.CancelFunc
	at     time.Time
	// expired is set once the deadline ended it; armed once the timer is
	// (or is no longer needed).
	expired, armed atomic.Bool
	mu             sync.Mutex
	timer          *time.Timer
}

var _ context.Context = (*deadline)(nil)

// newDeadline returns the context of an aggregate of parent that ends at
// at. Its stop must be called when the aggregate is done.
func newDeadline(parent context.Context, at time.Time) *deadline {
	ctx, cancel := context.WithCancel(parent)
	return &deadline{Context: ctx, cancel: cancel, at: at}
}

// Deadline returns the aggregate's deadline.
func (d *deadline) Deadline() (time.Time, bool) { return d.at, true }

// Done arms the timer, then returns the channel closed when d ends.
func (d *deadline) Done() <-chan struct{} {
	d.arm()
	return d.Context.Done()
}

// Err returns nil while d has not ended, context.DeadlineExceeded once its
// deadline passed, else the cause of its end (the parent's error, or
// context.Canceled for callOff).
func (d *deadline) Err() error {
	if err := d.Context.Err(); err != nil {
		if d.expired.Load() {
			return context.DeadlineExceeded
		}
		return err
	}
	// Until reads the monotonic clock alone (at carries a monotonic
	// reading): one clock reading, where Now takes two.
	if time.Until(d.at) <= 0 {
		d.expire()
		return context.DeadlineExceeded
	}
	return nil
}

// ended reports whether d ended as far as is known without reading the
// clock: called off, its parent ended, or its deadline seen to pass.
func (d *deadline) ended() bool { return d.Context.Err() != nil }

// callOff ends d: a required call failed, the others are called off.
func (d *deadline) callOff() { d.cancel() }

// stop ends d and its timer, once the aggregate is done.
func (d *deadline) stop() {
	d.armed.Store(true)
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.cancel()
}

// arm starts the timer that ends d at its deadline, once.
func (d *deadline) arm() {
	if d.armed.Load() || !d.armed.CompareAndSwap(false, true) {
		return
	}
	d.mu.Lock()
	if d.Context.Err() == nil {
		d.timer = time.AfterFunc(time.Until(d.at), d.expire)
	}
	d.mu.Unlock()
}

// expire ends d at its deadline. Only the first end counts: a deadline
// that passes after the calls were called off leaves Err as it was.
func (d *deadline) expire() {
	if d.Context.Err() == nil {
		d.expired.Store(true)
		d.cancel()
	}
}
