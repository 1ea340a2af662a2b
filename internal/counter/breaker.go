package counter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// breaker keeps a dead Redis from costing requests any time. The first
// failure opens it; while open, decisions answer the fallback at once,
// without network I/O, and one background probe pings Redis with growing
// pauses until it answers, which closes the breaker again. It logs once per
// change of state, never per request.
type breaker struct {
	open atomic.Bool
	// timeouts counts consecutive timed-out calls. One slow answer (a
	// loaded machine, a pause) must not switch a node to the fallback for
	// the probe's whole pause; timeoutsToOpen in a row, or any refused or
	// broken connection, does.
	timeouts atomic.Int32

	ping     func(context.Context) error
	timeout  time.Duration // of one probe
	min, max time.Duration // probe pauses
	log      *slog.Logger
	mode     FailureMode
	onState  func(up bool)
	onError  func()
	// wait pauses the probe for d and reports false when the breaker is
	// closing; tests replace it to run the probe without the real clock.
	wait func(ctx context.Context, d time.Duration) bool

	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBreaker(ping func(context.Context) error, o *RedisOptions) *breaker {
	b := &breaker{
		ping:    ping,
		timeout: o.DialTimeout + o.Timeout,
		min:     o.ProbeMin,
		max:     o.ProbeMax,
		log:     o.Logger,
		mode:    o.OnFailure,
		onState: o.OnStateChange,
		onError: o.OnError,
		wait:    sleep,
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// up reports whether decisions may use Redis.
func (b *breaker) up() bool { return !b.open.Load() }

// timeoutsToOpen is how many consecutive timeouts open the breaker.
const timeoutsToOpen = 3

// fail records a failed Redis call. A refused or broken connection opens
// the breaker at once; a timeout only when the previous calls timed out
// too.
func (b *breaker) fail(err error) {
	b.errored()
	if isTimeout(err) && b.timeouts.Add(1) < timeoutsToOpen {
		return
	}
	b.trip(err)
}

// failNow records a failed call and opens the breaker whatever the error.
func (b *breaker) failNow(err error) {
	b.errored()
	b.trip(err)
}

// errored counts a failed Redis call (Hooks.OnError).
func (b *breaker) errored() {
	if b.onError != nil {
		b.onError()
	}
}

// succeeded resets the count of consecutive timeouts.
func (b *breaker) succeeded() {
	if b.timeouts.Load() != 0 {
		b.timeouts.Store(0)
	}
}

// isTimeout reports a call that ran out of time rather than one that
// found nothing listening.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// trip opens the breaker (once) and starts the probe.
func (b *breaker) trip(err error) {
	b.timeouts.Store(0)
	if !b.open.CompareAndSwap(false, true) {
		return
	}
	mode := "allow"
	if b.mode == FailDeny {
		mode = "deny"
	}
	b.log.Warn("counters: redis unreachable; answering on_failure until it is back", "on_failure", mode, "error", err)
	if b.onState != nil {
		b.onState(false)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.wg.Add(1)
	go b.probe()
}

// probe pings until Redis answers, pausing min, 2·min, ... up to max
// (100ms, 200ms, ... 2s by default), so that a short outage costs little
// more than itself and a long one is noticed to be over within max. Every
// opening of the breaker starts again from min.
func (b *breaker) probe() {
	defer b.wg.Done()
	pause := b.min
	for {
		if !b.wait(b.ctx, pause) {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
		err := b.ping(ctx)
		cancel()
		if err == nil {
			b.open.Store(false)
			b.log.Info("counters: redis reachable again; shared limiting resumes")
			if b.onState != nil {
				b.onState(true)
			}
			return
		}
		if b.ctx.Err() != nil {
			return
		}
		b.errored()
		pause = min(2*pause, b.max)
	}
}

// sleep waits d, or until ctx is done, which it reports as false.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// close stops the probe.
func (b *breaker) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
