package usage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// errDown is what fakeLedger returns while storage plays dead.
var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

type ledgerKey struct {
	node                            string
	bucket                          int64
	consumer, route, version, model string
}

// fakeLedger is an in-memory ledger with the store's semantics (absolute
// values per node and key) that can fail in the ways a database does.
type fakeLedger struct {
	mu      sync.Mutex
	rows    map[ledgerKey]store.UsageCounts
	calls   int
	deletes []time.Time
	// mode: "" works; "down" fails without writing; "commit-then-fail"
	// writes and then reports an error, as a timeout after the commit
	// does; "commit-then-hang" writes and waits for the context to end.
	mode string
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{rows: map[ledgerKey]store.UsageCounts{}}
}

func (f *fakeLedger) setMode(m string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeLedger) UpsertUsage(ctx context.Context, node string, rows []store.UsageRow) error {
	f.mu.Lock()
	f.calls++
	mode := f.mode
	if mode == "down" {
		f.mu.Unlock()
		return errDown
	}
	for _, r := range rows {
		f.rows[ledgerKey{node, r.Bucket.Unix(), r.Consumer, r.Route, r.Version, r.Model}] = r.UsageCounts
	}
	f.mu.Unlock()
	switch mode {
	case "commit-then-fail":
		return context.DeadlineExceeded
	case "commit-then-hang":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeLedger) DeleteUsageBefore(ctx context.Context, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode == "down" {
		return 0, errDown
	}
	f.deletes = append(f.deletes, t)
	var n int64
	for k := range f.rows {
		if k.bucket < t.Unix() {
			delete(f.rows, k)
			n++
		}
	}
	return n, nil
}

// total sums every node's rows matching keep (all when nil).
func (f *fakeLedger) total(keep func(ledgerKey) bool) store.UsageCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	var c store.UsageCounts
	for k, v := range f.rows {
		if keep == nil || keep(k) {
			c.Add(v)
		}
	}
	return c
}

func (f *fakeLedger) row(bucket time.Time, consumer, route string) (store.UsageCounts, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.rows {
		if k.bucket == bucket.Unix() && k.consumer == consumer && k.route == route {
			return v, true
		}
	}
	return store.UsageCounts{}, false
}

// clock is a settable clock for the meter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(s string) *clock {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &clock{t: t}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// hooks records what the meter reports through its Options.
type hooks struct {
	mu      sync.Mutex
	flushes []flushReport
	dropped int64
	finals  []Bucket
	log     bytes.Buffer
}

type flushReport struct {
	ok   bool
	rows int
}

func (h *hooks) options(o Options) Options {
	o.OnFlush = func(ok bool, rows int, err error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if ok != (err == nil) {
			panic("OnFlush: ok and err disagree")
		}
		h.flushes = append(h.flushes, flushReport{ok, rows})
	}
	o.OnDrop = func(n int64) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.dropped += n
	}
	o.OnFinal = func(bs []Bucket) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.finals = append(h.finals, bs...)
	}
	o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &h.mu, w: &h.log}, nil))
	return o
}

func (h *hooks) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

func (h *hooks) finalBuckets() []Bucket {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Bucket(nil), h.finals...)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newMeter(t testing.TB, o Options) *Meter {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m.Close(ctx)
	})
	return m
}

func mustFlush(t *testing.T, m *Meter) {
	t.Helper()
	if err := m.Flush(t.Context()); err != nil {
		t.Fatalf("Flush(): %v", err)
	}
}

// ok is a billable request of consumer on route.
func ok(consumer, route string) *Record {
	return &Record{Consumer: consumer, Route: route, Status: 200, Admitted: true, Units: 1}
}
