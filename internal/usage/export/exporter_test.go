package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveryThroughOutage(t *testing.T) {
	tests := []struct {
		name string
		// down breaks the receiver; the test repairs it with up.
		down         func(r *receiver)
		timeout      time.Duration
		wantDupes    bool
		wantFailures int64
	}{
		{name: "503", down: func(r *receiver) { r.down(http.StatusServiceUnavailable) }},
		{name: "502 from a proxy", down: func(r *receiver) { r.down(http.StatusBadGateway) }},
		{name: "408", down: func(r *receiver) { r.down(http.StatusRequestTimeout) }},
		{name: "429 with Retry-After", down: func(r *receiver) {
			r.setRespond(func([]Event) (int, bool, http.Header) {
				return http.StatusTooManyRequests, false, http.Header{"Retry-After": {"1"}}
			})
		}},
		{name: "connection refused", down: func(r *receiver) { r.setRefused(true) }},
		{name: "stored, then 500", wantDupes: true, down: func(r *receiver) {
			r.setRespond(func([]Event) (int, bool, http.Header) { return http.StatusInternalServerError, true, nil })
		}},
		{name: "stored, answer timed out", wantDupes: true, timeout: 20 * time.Millisecond, down: func(r *receiver) {
			r.setRespond(func([]Event) (int, bool, http.Header) { return hang, true, nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t)
			var c counters
			o := testOptions(r.url(), t.TempDir(), &c)
			if tt.timeout > 0 {
				o.Timeout = tt.timeout
			}
			e := mustNew(t, o)
			tt.down(r)
			start(t, e)

			// Four producers, ten Enqueue calls each, while Run retries.
			const producers, calls, per = 4, 10, 25
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := range calls {
						if err := e.Enqueue(events((p*calls+i)*per, per)); err != nil {
							t.Errorf("Enqueue() error = %v", err)
						}
					}
				})
			}
			wg.Wait()
			eventually(t, "several failed deliveries", func() bool { return c.failed.Load() >= 5 })
			r.setRefused(false)
			r.up()

			want := ids(events(0, producers*calls*per))
			eventually(t, "every event", func() bool { return r.count() == len(want) })
			if got := r.ids(); !sameSet(got, want) {
				t.Errorf("received ids differ from enqueued ones: %d received, %d enqueued", len(got), len(want))
			}
			if dupes := r.duplicates(); (dupes > 0) != tt.wantDupes {
				t.Errorf("duplicates on the wire = %d, want some: %v", dupes, tt.wantDupes)
			}
			if mb := r.largestBatch(); mb > o.BatchSize {
				t.Errorf("largest batch = %d events, want at most BatchSize %d", mb, o.BatchSize)
			}
			eventually(t, "an empty spool", func() bool { return e.sp.pendingBytes() == 0 })
			// OnSent runs just after the spool moved on.
			eventually(t, "OnSent", func() bool { return c.sent.Load() >= int64(len(want)) })
			if sent := c.sent.Load(); sent < int64(len(want)) || !tt.wantDupes && sent != int64(len(want)) {
				t.Errorf("OnSent total = %d, want %d", sent, len(want))
			}
			if d, rj := c.dropped.Load(), c.rejected.Load(); d != 0 || rj != 0 {
				t.Errorf("dropped, rejected = %d, %d; want none", d, rj)
			}
		})
	}
}

func TestRestartResendsPending(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	var c counters
	r.down(http.StatusServiceUnavailable)
	e1 := mustNew(t, testOptions(r.url(), dir, &c))
	for i := range 3 {
		if err := e1.Enqueue(events(i*40, 40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeNow(t, e1); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close() with the receiver down = %v, want ErrUndelivered", err)
	}
	if err := e1.Enqueue(events(500, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue() after Close = %v, want ErrClosed", err)
	}

	r.up()
	e2 := mustNew(t, testOptions(r.url(), dir, &c))
	start(t, e2)
	want := ids(events(0, 120))
	eventually(t, "the spooled events", func() bool { return r.count() == len(want) })
	if got := r.ids(); !slices.Equal(got, want) {
		t.Errorf("received after restart (-want +got):\n%s", cmp.Diff(want, got))
	}
}

func TestRestartKeepsDeliveredPosition(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	var c counters

	// The first batch gets through, then the receiver fails and Close gives
	// up: the head sits in the middle of a segment.
	posts := 0
	r.setRespond(func([]Event) (int, bool, http.Header) {
		posts++
		if posts == 1 {
			return http.StatusAccepted, true, nil
		}
		return http.StatusServiceUnavailable, false, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	o := testOptions(r.url(), dir, &c)
	o.OnFailed = func(error) { cancel() }
	e1 := mustNew(t, o)
	if err := e1.Enqueue(events(0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(ctx); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close() = %v, want ErrUndelivered", err)
	}
	if got := r.count(); got != o.BatchSize {
		t.Fatalf("first process delivered %d events, want one batch of %d", got, o.BatchSize)
	}

	r.up()
	e2 := mustNew(t, testOptions(r.url(), dir, &c))
	if err := e2.Enqueue(events(100, 10)); err != nil {
		t.Fatal(err)
	}
	if err := e2.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got, want := r.ids(), ids(events(0, 110)); !slices.Equal(got, want) {
		t.Errorf("received (-want +got):\n%s", cmp.Diff(want, got))
	}
	if d := r.duplicates(); d != 0 {
		t.Errorf("duplicates = %d, want none: the head must survive the restart", d)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("segments left after a full delivery: %v", segs)
	}

	// A third process has nothing to send.
	before := r.postCount()
	e3 := mustNew(t, testOptions(r.url(), dir, &c))
	if err := e3.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if r.postCount() != before {
		t.Errorf("an empty spool was posted")
	}
}

func TestDamagedSpool(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	var c counters
	r.down(http.StatusServiceUnavailable)
	e1 := mustNew(t, testOptions(r.url(), dir, &c))
	evs := events(0, 30)
	if err := e1.Enqueue(evs); err != nil {
		t.Fatal(err)
	}
	if err := closeNow(t, e1); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close() = %v, want ErrUndelivered", err)
	}
	segs := segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments = %v, want one", segs)
	}

	// Damage record 10 inside its payload, then leave half a record at the
	// end as a crash during a write would.
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[10][20] ^= 0x20
	torn := appendRecord(nil, mustJSON(t, events(900, 1)[0]))
	data = append(bytes.Join(lines, nil), torn[:len(torn)/2]...)
	if err := os.WriteFile(segs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}

	r.up()
	e2 := mustNew(t, testOptions(r.url(), dir, &c))
	// The new process appends to a new segment, never after the torn tail.
	if err := e2.Enqueue(events(30, 5)); err != nil {
		t.Fatal(err)
	}
	if err := e2.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	want := append(ids(evs[:10]), ids(evs[11:])...)
	want = append(want, ids(events(30, 5))...)
	if got := r.ids(); !slices.Equal(got, want) {
		t.Errorf("received (-want +got):\n%s", cmp.Diff(want, got))
	}
	if got := c.dropped.Load(); got != 1 {
		t.Errorf("OnDropped total = %d, want 1 (the damaged record)", got)
	}
}

func TestSpoolCapDropsOldest(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	var c counters
	o := testOptions(r.url(), dir, &c)
	o.MaxSpoolBytes = 16 << 10
	e := mustNew(t, o)

	const total, per = 400, 5
	var maxPending int64
	for i := 0; i < total; i += per {
		if err := e.Enqueue(events(i, per)); err != nil {
			t.Fatal(err)
		}
		maxPending = max(maxPending, e.sp.pendingBytes())
	}
	dropped := int(c.dropped.Load())
	if dropped == 0 || dropped >= total {
		t.Fatalf("dropped %d of %d events, want some but not all", dropped, total)
	}
	// The active segment is never dropped: the cap may be passed by one
	// segment and one Enqueue.
	batchBytes := int64(len(mustJSON(t, events(0, per))))
	if limit := o.MaxSpoolBytes + e.sp.segBytes + batchBytes; maxPending > limit {
		t.Errorf("spool reached %d bytes, want at most %d", maxPending, limit)
	}

	if err := e.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	want := ids(events(dropped, total-dropped))
	if got := r.ids(); !slices.Equal(got, want) {
		t.Errorf("received (-want +got), want the newest %d:\n%s", len(want), cmp.Diff(want, got))
	}
}

func TestSpoolCapSparesBatchInFlight(t *testing.T) {
	r := newReceiver(t)
	var c counters
	o := testOptions(r.url(), t.TempDir(), &c)
	o.MaxSpoolBytes = 16 << 10
	o.BatchSize = 20
	e := mustNew(t, o)

	// The first post waits until the spool overflowed many times over.
	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.mu.Lock()
	r.before = func([]Event) {
		once.Do(func() {
			close(inFlight)
			<-release
		})
	}
	r.mu.Unlock()

	const total, per = 600, 5
	if err := e.Enqueue(events(0, per)); err != nil {
		t.Fatal(err)
	}
	start(t, e)
	<-inFlight
	for i := per; i < total; i += per {
		if err := e.Enqueue(events(i, per)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	eventually(t, "an empty spool", func() bool { return e.sp.pendingBytes() == 0 })

	got, dropped := r.ids(), int(c.dropped.Load())
	if dropped == 0 {
		t.Fatal("nothing dropped; the test needs an overflow")
	}
	if len(got)+dropped != total || r.duplicates() != 0 {
		t.Errorf("received %d (%d duplicates) + dropped %d, want exactly %d", len(got), r.duplicates(), dropped, total)
	}
	if !slices.Equal(got[:per], ids(events(0, per))) {
		t.Errorf("the batch in flight was not delivered first: %v", got[:per])
	}
}

func TestEnqueueValidates(t *testing.T) {
	r := newReceiver(t)
	var c counters
	e := mustNew(t, testOptions(r.url(), t.TempDir(), &c))
	t.Cleanup(func() { _ = closeNow(t, e) })
	tests := []struct {
		name   string
		mutate func(*Event)
		want   string
	}{
		{name: "no id", mutate: func(ev *Event) { ev.ID = "" }, want: "event id is empty"},
		{name: "no subject", mutate: func(ev *Event) { ev.Subject = "" }, want: "event subject is empty"},
		{name: "no source", mutate: func(ev *Event) { ev.Source = "" }, want: "event source is empty"},
		{name: "huge", mutate: func(ev *Event) { ev.Data.Route = strings.Repeat("r", maxRecordBytes) }, want: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := events(0, 3)
			tt.mutate(&evs[2])
			err := e.Enqueue(evs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Enqueue() error = %v, want one mentioning %q", err, tt.want)
			}
			if n := e.sp.pendingBytes(); n != 0 {
				t.Errorf("a refused Enqueue spooled %d bytes, want none", n)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "no url", o: Options{SpoolDir: dir}, want: "http or https"},
		{name: "ftp url", o: Options{URL: "ftp://billing.example.com/x", SpoolDir: dir}, want: "http or https"},
		{name: "no host", o: Options{URL: "http:///api/v1/events", SpoolDir: dir}, want: "http or https"},
		{name: "no spool dir", o: Options{URL: "http://127.0.0.1:8888/api/v1/events"}, want: "spool dir is required"},
		{name: "negative batch", o: Options{URL: "http://127.0.0.1:8888/", SpoolDir: dir, BatchSize: -1}, want: "batch size must not be negative"},
		{name: "negative cap", o: Options{URL: "http://127.0.0.1:8888/", SpoolDir: dir, MaxSpoolBytes: -1}, want: "max spool bytes must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}

	e := mustNew(t, Options{URL: "https://openmeter.example.com/api/v1/events", SpoolDir: dir})
	got := []any{e.o.BatchSize, e.o.MaxSpoolBytes, e.o.Timeout, e.o.MinBackoff, e.o.MaxBackoff}
	want := []any{500, int64(1 << 30), 10 * time.Second, 250 * time.Millisecond, 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if _, err := New(Options{URL: "https://openmeter.example.com/", SpoolDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("New() on a spool dir in use = %v, want an error saying so", err)
	}
	if err := closeNow(t, e); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	e2 := mustNew(t, Options{URL: "https://openmeter.example.com/", SpoolDir: dir})
	if err := closeNow(t, e2); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := closeNow(t, e2); err != nil {
		t.Errorf("second Close() = %v, want the first result", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	r := newReceiver(t)
	var c counters
	o := testOptions(r.url(), t.TempDir(), &c)
	o.Token = "om_test_token"
	e := mustNew(t, o)
	if err := e.Enqueue(events(0, 2)); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.header.Get("Authorization"); a != "Bearer om_test_token" {
		t.Errorf("Authorization = %q, want the bearer token", a)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/cloudevents-batch+json" {
		t.Errorf("Content-Type = %q, want application/cloudevents-batch+json", ct)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCloseStopsRun(t *testing.T) {
	tests := []struct {
		name    string
		down    bool
		wantErr error
	}{
		{name: "receiver up: Run drains, then stops", wantErr: nil},
		{name: "receiver down: Close gives up when its context ends", down: true, wantErr: ErrUndelivered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t)
			if tt.down {
				r.down(http.StatusServiceUnavailable)
			}
			var c counters
			e := mustNew(t, testOptions(r.url(), t.TempDir(), &c))
			runDone := make(chan struct{})
			go func() {
				e.Run(context.Background())
				close(runDone)
			}()
			if err := e.Enqueue(events(0, 120)); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			closed := make(chan error, 1)
			go func() { closed <- e.Close(ctx) }()
			if tt.down {
				failed := c.failed.Load()
				eventually(t, "retries while closing", func() bool { return c.failed.Load() > failed+3 })
				cancel()
			}
			if err := <-closed; !errors.Is(err, tt.wantErr) {
				t.Errorf("Close() = %v, want %v", err, tt.wantErr)
			}
			<-runDone
			if !tt.down && r.count() != 120 {
				t.Errorf("delivered %d events before Close returned, want 120", r.count())
			}

			// Run after Close must not touch the spool.
			posts := r.postCount()
			e.Run(context.Background())
			if r.postCount() != posts {
				t.Errorf("Run after Close posted")
			}
		})
	}
}
