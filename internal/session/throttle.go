package session

import (
	"sync"
	"time"
)

// Throttle limits failed sign-ins per client: after Max failures within
// Window, further attempts from that client are refused until the oldest
// failure is Window old. It is safe for concurrent use and holds at most
// maxClients clients (the oldest entries go first).
type Throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

const maxClients = 10000

// NewThrottle returns a throttle allowing max failures per window; now nil
// means time.Now.
func NewThrottle(max int, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{max: max, window: window, now: now, failures: map[string][]time.Time{}}
}

// Allow reports whether client may try to sign in now, and if not, how
// long until it may.
func (t *Throttle) Allow(client string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := t.recent(client)
	if len(fs) < t.max {
		return true, 0
	}
	return false, fs[0].Add(t.window).Sub(t.now())
}

// Fail records a failed sign-in of client.
func (t *Throttle) Fail(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.failures[client]; !ok && len(t.failures) >= maxClients {
		t.evict()
	}
	t.failures[client] = append(t.recent(client), t.now())
}

// Succeed forgets client's failures.
func (t *Throttle) Succeed(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, client)
}

// recent returns client's failures within the window, dropping older
// ones; t.mu is held.
func (t *Throttle) recent(client string) []time.Time {
	fs := t.failures[client]
	cut := t.now().Add(-t.window)
	i := 0
	for i < len(fs) && !fs[i].After(cut) {
		i++
	}
	if i == len(fs) {
		delete(t.failures, client)
		return nil
	}
	fs = fs[i:]
	t.failures[client] = fs
	return fs
}

// evict drops clients whose failures are all outside the window, or else
// the client whose last failure is oldest; t.mu is held.
func (t *Throttle) evict() {
	var oldest string
	var at time.Time
	for c := range t.failures {
		fs := t.recent(c)
		if fs == nil {
			return
		}
		if last := fs[len(fs)-1]; oldest == "" || last.Before(at) {
			oldest, at = c, last
		}
	}
	delete(t.failures, oldest)
}
