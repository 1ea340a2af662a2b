package export

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// stepClock fires every timer at once and remembers the waits asked for.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newStepClock() *stepClock { return &stepClock{now: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *stepClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

func TestBackoff(t *testing.T) {
	var c counters
	o := testOptions("http://127.0.0.1:1/", t.TempDir(), &c)
	o.MinBackoff, o.MaxBackoff = 250*time.Millisecond, 30*time.Second
	e := mustNew(t, o)
	t.Cleanup(func() { _ = closeNow(t, e) })

	// The ceiling doubles from MinBackoff to MaxBackoff; each wait is in
	// the upper half of it.
	ceilings := []time.Duration{
		250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	for round := range 20 { // jitter is random: try it a few times
		e.attempt = 0
		for i, ceil := range ceilings {
			if d := e.backoff(errStatus(503, 0)); d < ceil/2 || d > ceil {
				t.Fatalf("round %d: backoff() #%d = %v, want within [%v, %v]", round, i, d, ceil/2, ceil)
			}
		}
	}
	for range 100 {
		e.attempt = 1000
		if d := e.backoff(errStatus(503, 0)); d < 15*time.Second || d > 30*time.Second {
			t.Fatalf("backoff() after many failures = %v, want within [15s, 30s]", d)
		}
	}

	tests := []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{name: "Retry-After above the backoff", retryAfter: 5 * time.Second, want: 5 * time.Second},
		{name: "Retry-After above MaxBackoff", retryAfter: time.Hour, want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.attempt = 0
			if d := e.backoff(errStatus(429, tt.retryAfter)); d != tt.want {
				t.Errorf("backoff() with Retry-After %v = %v, want %v", tt.retryAfter, d, tt.want)
			}
		})
	}
}

func errStatus(status int, retryAfter time.Duration) error {
	return &StatusError{Status: status, RetryAfter: retryAfter}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-4", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRunBacksOffOnClock(t *testing.T) {
	r := newReceiver(t)
	posts := 0
	r.setRespond(func([]Event) (int, bool, http.Header) {
		posts++
		switch {
		case posts <= 4:
			return http.StatusServiceUnavailable, false, nil
		case posts == 5:
			return http.StatusTooManyRequests, false, http.Header{"Retry-After": {"7"}}
		}
		return http.StatusOK, true, nil
	})
	clock := newStepClock()
	var c counters
	o := testOptions(r.url(), t.TempDir(), &c)
	o.Clock, o.MinBackoff, o.MaxBackoff = clock, time.Second, 10*time.Second
	e := mustNew(t, o)
	if err := e.Enqueue(events(0, 3)); err != nil {
		t.Fatal(err)
	}
	start(t, e)
	eventually(t, "delivery", func() bool { return r.count() == 3 })

	waits := clock.recorded()
	ceilings := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if len(waits) != 5 {
		t.Fatalf("waits = %v, want 5 (one per failure)", waits)
	}
	for i, ceil := range ceilings {
		if waits[i] < ceil/2 || waits[i] > ceil {
			t.Errorf("wait #%d = %v, want within [%v, %v]", i, waits[i], ceil/2, ceil)
		}
	}
	// The fifth failure's backoff is within [5s, 10s]; Retry-After: 7
	// lifts it when the jitter fell lower.
	if waits[4] < 7*time.Second || waits[4] > 10*time.Second {
		t.Errorf("wait after Retry-After: 7 = %v, want within [7s, 10s]", waits[4])
	}
	if got := c.failed.Load(); got != 5 {
		t.Errorf("OnFailed calls = %d, want 5", got)
	}
}
