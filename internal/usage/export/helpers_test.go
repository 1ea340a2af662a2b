package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a billing ingest endpoint that keeps events by id, the way
// OpenMeter deduplicates, and can be switched down.
type receiver struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	srv      *httptest.Server
	seen     map[string]int // id -> deliveries
	order    []string       // ids in first-arrival order
	posts    int
	maxBatch int
	header   http.Header // of the last batch
	// respond, when set, decides the answer to a well-formed batch; keep
	// says whether its events are stored all the same (an ingest that
	// stored them but failed to answer). Status hang holds the request
	// until the client gives up.
	respond func(events []Event) (status int, keep bool, header http.Header)
	// before, when set, runs first for every batch, outside the lock.
	before  func(events []Event)
	refused bool
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, seen: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.start(ln)
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.srv != nil {
			r.srv.Close()
		}
	})
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/api/v1/events" }

func (r *receiver) start(ln net.Listener) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.Listener = ln
	srv.Start()
	r.srv = srv
}

// setRefused closes the listener (connections are refused) or listens
// again on the same address.
func (r *receiver) setRefused(refused bool) {
	r.t.Helper()
	r.mu.Lock()
	srv := r.srv
	if refused == r.refused {
		r.mu.Unlock()
		return
	}
	r.refused = refused
	if refused {
		r.srv = nil
	}
	r.mu.Unlock()
	if refused {
		srv.Close()
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listening again on %s: %v", r.addr, err)
	}
	r.mu.Lock()
	r.start(ln)
	r.mu.Unlock()
}

func (r *receiver) setRespond(f func([]Event) (int, bool, http.Header)) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

// down answers status to every batch, keeping nothing.
func (r *receiver) down(status int) {
	r.setRespond(func([]Event) (int, bool, http.Header) { return status, false, nil })
}

func (r *receiver) up() { r.setRespond(nil) }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/cloudevents-batch+json" || req.Method != http.MethodPost {
		http.Error(w, "want POST application/cloudevents-batch+json, got "+req.Method+" "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var events []Event
	if err := json.Unmarshal(body, &events); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(events)
	}
	r.mu.Lock()
	r.posts++
	r.header = req.Header.Clone()
	r.maxBatch = max(r.maxBatch, len(events))
	status, keep := http.StatusNoContent, true
	if r.respond != nil {
		var h http.Header
		status, keep, h = r.respond(events)
		for k, v := range h {
			w.Header()[k] = v
		}
	}
	if keep {
		for _, ev := range events {
			if r.seen[ev.ID] == 0 {
				r.order = append(r.order, ev.ID)
			}
			r.seen[ev.ID]++
		}
	}
	r.mu.Unlock()
	if status == hang {
		<-req.Context().Done()
		return
	}
	w.WriteHeader(status)
}

// hang is a receiver status: no answer until the client gives up.
const hang = 0

// duplicates counts deliveries of ids already received.
func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c - 1
	}
	return n
}

// ids returns the distinct ids received, in first-arrival order.
func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

func (r *receiver) largestBatch() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxBatch
}

func (r *receiver) postCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts
}

// counters collects the hooks' numbers.
type counters struct {
	sent, failed, dropped, rejected atomic.Int64
}

// testOptions returns fast-retrying options for url and dir.
func testOptions(url, dir string, c *counters) Options {
	return Options{
		URL:        url,
		SpoolDir:   dir,
		BatchSize:  50,
		Timeout:    5 * time.Second,
		MinBackoff: time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSent:     func(n int) { c.sent.Add(int64(n)) },
		OnFailed:   func(error) { c.failed.Add(1) },
		OnDropped:  func(n int) { c.dropped.Add(int64(n)) },
		OnRejected: func(n int) { c.rejected.Add(int64(n)) },
	}
}

func mustNew(t *testing.T, o Options) *Exporter {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return e
}

// start runs e until the test ends.
func start(t *testing.T, e *Exporter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// closeNow closes e without waiting for deliveries.
func closeNow(t *testing.T, e *Exporter) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return e.Close(ctx)
}

var bucketStart = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

// events returns n usage events of distinct buckets, numbered from first.
func events(first, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		k := first + i
		start := bucketStart.Add(time.Duration(k/7) * time.Minute)
		evs[i] = NewEvent(Bucket{
			Node:     "node-a",
			Consumer: fmt.Sprintf("consumer-%d", k%7),
			Route:    "orders",
			Version:  "v1",
			Start:    start,
			End:      start.Add(time.Minute),
			Counts:   Counts{Requests: int64(k + 1), Billable: int64(k), Units: int64(k)},
		})
	}
	return evs
}

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// eventually polls cond until it holds, failing after a generous limit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// segments lists the spool's segment files.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
