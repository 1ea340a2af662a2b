package usage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

func TestRecordSemantics(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want store.UsageCounts
	}{
		{
			name: "answered",
			rec:  Record{Status: 200, Admitted: true, Units: 1, BytesIn: 10, BytesOut: 500, Latency: 1500 * time.Microsecond},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, BytesIn: 10, BytesOut: 500, LatencyMicros: 1500},
		},
		{
			name: "upstream reported units",
			rec:  Record{Status: 201, Admitted: true, Units: 1234},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1234},
		},
		{
			name: "upstream reported zero units",
			rec:  Record{Status: 200, Admitted: true, Units: 0},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 0},
		},
		{
			name: "upstream 404 is billable and an error",
			rec:  Record{Status: 404, Admitted: true, Units: 1},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, Errors: 1},
		},
		{
			name: "client gone (499) after admission is billable",
			rec:  Record{Status: 499, Admitted: true, Units: 1},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, Errors: 1},
		},
		{
			name: "upstream 500 is not billable",
			rec:  Record{Status: 500, Admitted: true, Units: 7},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Errors: 1},
		},
		{
			name: "gateway 502 is not billable",
			rec:  Record{Status: 502, Admitted: true, Units: 1},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Errors: 1},
		},
		{
			name: "llm answer",
			rec:  Record{Status: 200, Admitted: true, Units: 1, Model: "gpt-4.1", InputTokens: 1200, OutputTokens: 345},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, InputTokens: 1200, OutputTokens: 345},
		},
		{
			name: "llm client gone mid-stream: charged what was reported",
			rec:  Record{Status: 499, Admitted: true, Units: 1, Model: "claude", InputTokens: 10, OutputTokens: 1},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, Errors: 1, InputTokens: 10, OutputTokens: 1},
		},
		{
			name: "llm upstream 500 with usage: tokens counted, not billable",
			rec:  Record{Status: 500, Admitted: true, Units: 1, Model: "claude", InputTokens: 10},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Errors: 1, InputTokens: 10},
		},
		{
			name: "tokens of a request not admitted are not counted",
			rec:  Record{Status: 429, Units: 1, Model: "gpt-4.1", InputTokens: 5, OutputTokens: 5},
			want: store.UsageCounts{Requests: 1, Errors: 1},
		},
		{name: "401 rejected", rec: Record{Status: 401, Units: 1}, want: store.UsageCounts{Requests: 1, Errors: 1}},
		{name: "403 rejected", rec: Record{Status: 403, Units: 1}, want: store.UsageCounts{Requests: 1, Errors: 1}},
		{name: "413 rejected", rec: Record{Status: 413, Units: 1, BytesIn: 99}, want: store.UsageCounts{Requests: 1, Errors: 1, BytesIn: 99}},
		{name: "429 rejected", rec: Record{Status: 429, Units: 1}, want: store.UsageCounts{Requests: 1, Errors: 1}},
		{
			name: "websocket session",
			rec:  Record{Status: 101, Admitted: true, Units: 1, WSMessagesIn: 12, WSMessagesOut: 30, WSDuration: 90*time.Second + 250*time.Millisecond},
			want: store.UsageCounts{Requests: 1, Admitted: 1, Billable: 1, Units: 1, WSMessagesIn: 12, WSMessagesOut: 30, WSMillis: 90250},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			led := newFakeLedger()
			clk := newClock("2026-11-03T10:00:30Z")
			m := newMeter(t, Options{Ledger: led, Now: clk.Now, NodeID: "node-a"})
			rec := tt.rec
			rec.Consumer, rec.Route = "acme", "orders"
			m.Record(&rec)
			m.Record(&Record{Consumer: "acme", Status: 404}) // No route: not counted.
			mustFlush(t, m)
			if diff := cmp.Diff(tt.want, led.total(nil)); diff != "" {
				t.Errorf("ledger totals mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMeterModels: the model is part of a bucket's key, so each model of
// a consumer's route has its own row in a minute.
func TestMeterModels(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:30Z")
	m := newMeter(t, Options{Ledger: led, Now: clk.Now, NodeID: "node-a"})
	for i := range 10 {
		model := []string{"gpt-4.1", "gpt-4o-mini"}[i%2]
		m.Record(&Record{Consumer: "acme", Route: "chat", Status: 200, Admitted: true, Units: 1, Model: model, InputTokens: int64(i), OutputTokens: 100})
	}
	m.Record(ok("acme", "chat"))
	mustFlush(t, m)
	byModel := func(model string) store.UsageCounts {
		return led.total(func(k ledgerKey) bool { return k.model == model })
	}
	if got := byModel("gpt-4.1"); got.Requests != 5 || got.InputTokens != 0+2+4+6+8 || got.OutputTokens != 500 {
		t.Errorf("gpt-4.1 = %+v, want 5 requests, 20 input and 500 output tokens", got)
	}
	if got := byModel("gpt-4o-mini"); got.Requests != 5 || got.InputTokens != 1+3+5+7+9 || got.OutputTokens != 500 {
		t.Errorf("gpt-4o-mini = %+v, want 5 requests, 25 input and 500 output tokens", got)
	}
	if got := byModel(""); got.Requests != 1 || got.InputTokens != 0 {
		t.Errorf("no model = %+v, want 1 request without tokens", got)
	}
}

func TestFromExchange(t *testing.T) {
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	now := start.Add(250 * time.Millisecond)
	tests := []struct {
		name string
		x    pipeline.Exchange
		want Record
	}{
		{
			name: "consumer, one unit",
			x: pipeline.Exchange{Start: start, RouteName: "orders-v2", Version: "v2", Status: 200, Admitted: true,
				Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}, BytesIn: 12, BytesOut: 340},
			want: Record{Time: now, Consumer: "acme", Route: "orders-v2", Version: "v2", Status: 200, Admitted: true,
				Units: 1, BytesIn: 12, BytesOut: 340, Latency: 250 * time.Millisecond},
		},
		{
			name: "llm tokens",
			x: pipeline.Exchange{Start: start, RouteName: "chat", Status: 200, Admitted: true,
				LLM: &pipeline.LLMStats{Model: "gpt-4.1", InputTokens: 40, OutputTokens: 2, CachedTokens: 32, Reported: true}},
			want: Record{Time: now, Route: "chat", Status: 200, Admitted: true, Units: 1, Latency: 250 * time.Millisecond,
				Model: "gpt-4.1", InputTokens: 40, OutputTokens: 2},
		},
		{
			name: "anonymous, rejected",
			x:    pipeline.Exchange{Start: start, RouteName: "users", Status: 401},
			want: Record{Time: now, Route: "users", Status: 401, Units: 1, Latency: 250 * time.Millisecond},
		},
		{
			name: "units from the upstream",
			x:    pipeline.Exchange{Start: start, RouteName: "completions", Status: 200, Admitted: true, Units: 4096, UnitsSet: true},
			want: Record{Time: now, Route: "completions", Status: 200, Admitted: true, Units: 4096, Latency: 250 * time.Millisecond},
		},
		{
			name: "zero units from the upstream",
			x:    pipeline.Exchange{Start: start, RouteName: "completions", Status: 200, Admitted: true, UnitsSet: true},
			want: Record{Time: now, Route: "completions", Status: 200, Admitted: true, Units: 0, Latency: 250 * time.Millisecond},
		},
		{
			name: "negative units count one",
			x:    pipeline.Exchange{Start: start, RouteName: "completions", Status: 200, Admitted: true, Units: -5, UnitsSet: true},
			want: Record{Time: now, Route: "completions", Status: 200, Admitted: true, Units: 1, Latency: 250 * time.Millisecond},
		},
		{
			name: "websocket",
			x: pipeline.Exchange{Start: start, RouteName: "chat", Status: 101, Admitted: true,
				WebSocket: &pipeline.WebSocketStats{MessagesIn: 3, MessagesOut: 5, Duration: time.Minute, Reason: "client_closed"}},
			want: Record{Time: now, Route: "chat", Status: 101, Admitted: true, Units: 1, Latency: 250 * time.Millisecond,
				WSMessagesIn: 3, WSMessagesOut: 5, WSDuration: time.Minute},
		},
		{
			name: "no start time",
			x:    pipeline.Exchange{RouteName: "users", Status: 200},
			want: Record{Time: now, Route: "users", Status: 200, Units: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FromExchange(&tt.x, now)); diff != "" {
				t.Errorf("FromExchange() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParallelExactCounts records from many goroutines while flushes run,
// some of which commit and then report a failure: the ledger must end with
// exactly what was recorded.
func TestParallelExactCounts(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:00Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a"}))

	const workers, perWorker = 8, 3000
	routes := []string{"orders", "users", "completions"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				r := Record{
					Consumer: fmt.Sprintf("consumer-%04d", rng.IntN(500)),
					Route:    routes[i%len(routes)],
					Status:   []int{200, 200, 404, 429, 500}[i%5],
					Admitted: i%5 != 3,
					Units:    int64(i % 4),
					BytesOut: 100,
					// Spread over three minutes, recorded out of order.
					Time: clk.Now().Add(time.Duration(rng.IntN(180)) * time.Second),
				}
				m.Record(&r)
			}
		})
	}
	stop, flusherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flusherDone)
		modes := []string{"", "commit-then-fail", "down", ""}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			led.setMode(modes[i%len(modes)])
			m.Flush(t.Context())
			if i%3 == 0 {
				// Minutes end while records arrive.
				clk.mu.Lock()
				clk.t = clk.t.Add(20 * time.Second)
				clk.mu.Unlock()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flusherDone
	led.setMode("")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatalf("Close(): %v", err)
	}

	// Every record: 3/5 billable (200, 200, 404), units i%4 on those.
	var want store.UsageCounts
	for range workers {
		for i := range perWorker {
			s := []int{200, 200, 404, 429, 500}[i%5]
			want.Requests++
			want.BytesOut += 100
			if i%5 != 3 {
				want.Admitted++
			}
			if s >= 400 {
				want.Errors++
			}
			if s < 500 && i%5 != 3 {
				want.Billable++
				want.Units += int64(i % 4)
			}
		}
	}
	if diff := cmp.Diff(want, led.total(nil)); diff != "" {
		t.Errorf("ledger totals mismatch (-want +got):\n%s", diff)
	}
	// Final buckets add up to the same, each reported once.
	var finals store.UsageCounts
	seen := map[string]bool{}
	for _, b := range h.finalBuckets() {
		if seen[b.ID()] {
			t.Errorf("bucket %s (%s %s %v) reported final twice", b.ID(), b.Consumer, b.Route, b.Bucket)
		}
		seen[b.ID()] = true
		finals.Add(b.UsageCounts)
	}
	if diff := cmp.Diff(want, finals); diff != "" {
		t.Errorf("final buckets' totals mismatch (-want +got):\n%s", diff)
	}
	if m.Pending() != 0 {
		t.Errorf("Pending() after Close = %d, want 0", m.Pending())
	}
}

func TestFinality(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:30Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a", Grace: 2 * time.Second}))
	ten := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	tenOne := ten.Add(time.Minute)
	recordAt := func(at time.Time) {
		r := ok("acme", "orders")
		r.Time = at
		m.Record(r)
	}
	requests := func(bucket time.Time) int64 {
		c, _ := led.row(bucket, "acme", "orders")
		return c.Requests
	}

	steps := []struct {
		name        string
		now         string
		record      []time.Time
		wantTen     int64 // requests stored for 10:00
		wantTenOne  int64 // and 10:01
		wantFinals  int
		wantPending int
	}{
		{name: "open minute is written, not final", now: "2026-11-03T10:00:40Z",
			record: []time.Time{ten.Add(30 * time.Second), ten.Add(40 * time.Second)}, wantTen: 2, wantPending: 1},
		{name: "a late record within the grace joins its minute", now: "2026-11-03T10:01:01Z",
			record: []time.Time{ten.Add(59 * time.Second)}, wantTen: 3, wantPending: 1},
		{name: "past the grace the minute is final", now: "2026-11-03T10:01:02Z",
			wantTen: 3, wantFinals: 1, wantPending: 0},
		{name: "a record for a final minute counts in the next open one", now: "2026-11-03T10:01:10Z",
			record: []time.Time{ten.Add(50 * time.Second), tenOne.Add(5 * time.Second)}, wantTen: 3, wantTenOne: 2, wantFinals: 1, wantPending: 1},
		{name: "a quiet flush changes nothing", now: "2026-11-03T10:01:20Z",
			wantTen: 3, wantTenOne: 2, wantFinals: 1, wantPending: 1},
	}
	for _, st := range steps {
		clk.set(st.now)
		for _, at := range st.record {
			recordAt(at)
		}
		mustFlush(t, m)
		if got := requests(ten); got != st.wantTen {
			t.Errorf("%s: 10:00 holds %d requests, want %d", st.name, got, st.wantTen)
		}
		if got := requests(tenOne); got != st.wantTenOne {
			t.Errorf("%s: 10:01 holds %d requests, want %d", st.name, got, st.wantTenOne)
		}
		if got := len(h.finalBuckets()); got != st.wantFinals {
			t.Errorf("%s: %d final buckets, want %d", st.name, got, st.wantFinals)
		}
		if got := m.Pending(); got != st.wantPending {
			t.Errorf("%s: Pending() = %d, want %d", st.name, got, st.wantPending)
		}
	}
	f := h.finalBuckets()[0]
	want := Bucket{NodeID: "node-a", UsageRow: store.UsageRow{Bucket: ten, Consumer: "acme", Route: "orders",
		UsageCounts: store.UsageCounts{Requests: 3, Admitted: 3, Billable: 3, Units: 3}}}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("final bucket mismatch (-want +got):\n%s", diff)
	}
	if calls := led.calls; calls != 3 {
		t.Errorf("ledger written %d times, want 3 (flushes with nothing new write nothing)", calls)
	}
}

// TestRetriedFlush has storage commit a write and then report a failure
// (a timeout, a dropped connection): the next flush writes the same
// absolute totals, and nothing is counted twice.
func TestRetriedFlush(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration
	}{
		{name: "error after commit", mode: "commit-then-fail"},
		{name: "timeout after commit", mode: "commit-then-hang", timeout: 20 * time.Millisecond},
		{name: "failure before commit", mode: "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			led := newFakeLedger()
			clk := newClock("2026-11-03T10:00:30Z")
			var h hooks
			m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a", FlushTimeout: tt.timeout}))
			for range 5 {
				m.Record(ok("acme", "orders"))
			}
			led.setMode(tt.mode)
			clk.set("2026-11-03T10:01:05Z") // The minute is over: this write holds final totals.
			if err := m.Flush(t.Context()); err == nil {
				t.Fatal("Flush() = nil, want the storage error")
			}
			if got := len(h.finalBuckets()); got != 0 {
				t.Fatalf("%d buckets final after a failed write, want 0", got)
			}
			if m.Pending() != 1 {
				t.Fatalf("Pending() after a failed write = %d, want 1", m.Pending())
			}
			led.setMode("")
			mustFlush(t, m)
			mustFlush(t, m)
			if got := led.total(nil).Requests; got != 5 {
				t.Errorf("ledger holds %d requests, want 5", got)
			}
			if got := len(h.finalBuckets()); got != 1 {
				t.Errorf("%d final buckets, want 1", got)
			}
			want := []flushReport{{false, 0}, {true, 1}}
			h.mu.Lock()
			got := h.flushes
			h.mu.Unlock()
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(flushReport{})); diff != "" {
				t.Errorf("OnFlush calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStorageDownThenBack(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:00Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a"}))
	if m.Buffering() {
		t.Fatal("Buffering() = true before any failed flush")
	}
	led.setMode("down")
	// Ten minutes of outage, a flush every 20 seconds.
	for i := range 30 {
		clk.set(time.Date(2026, 11, 3, 10, 0, i*20, 0, time.UTC).Format(time.RFC3339))
		m.Record(ok("acme", "orders"))
		m.Record(ok("globex", "users"))
		if err := m.Flush(t.Context()); err == nil {
			t.Fatal("Flush() with storage down = nil, want an error")
		}
	}
	if got := strings.Count(h.logText(), "keeping counts in memory"); got != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", got, h.logText())
	}
	if got := m.Pending(); got != 20 {
		t.Errorf("Pending() = %d, want 20 (two keys for ten minutes)", got)
	}
	if !m.Buffering() {
		t.Error("Buffering() = false during the outage")
	}
	led.setMode("")
	mustFlush(t, m)
	if m.Buffering() {
		t.Error("Buffering() = true after a successful flush")
	}
	if got := led.total(nil).Requests; got != 60 {
		t.Errorf("after the outage the ledger holds %d requests, want 60", got)
	}
	if !strings.Contains(h.logText(), "written to storage again") {
		t.Errorf("recovery not logged:\n%s", h.logText())
	}
	// Nine minutes are over and final; the tenth is still open.
	if got, want := len(h.finalBuckets()), 18; got != want {
		t.Errorf("%d final buckets, want %d", got, want)
	}
}

func TestBoundedPending(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:00Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a", MaxPending: 10}))
	led.setMode("down")
	for i := range 15 {
		m.Record(ok(fmt.Sprintf("consumer-%02d", i), "orders"))
	}
	// Buckets already held keep counting.
	m.Record(ok("consumer-00", "orders"))
	if got := m.Pending(); got != 10 {
		t.Errorf("Pending() = %d, want the bound, 10", got)
	}
	m.Flush(t.Context())
	if h.dropped != 5 {
		t.Errorf("OnDrop reported %d records, want 5", h.dropped)
	}
	if got := strings.Count(h.logText(), "records dropped"); got != 1 {
		t.Errorf("dropping logged %d times, want once:\n%s", got, h.logText())
	}
	led.setMode("")
	clk.set("2026-11-03T10:01:05Z")
	mustFlush(t, m)
	if got := led.total(nil).Requests; got != 11 {
		t.Errorf("ledger holds %d requests, want 11 (10 first records and one repeat)", got)
	}
	// Room again once the final buckets left memory.
	m.Record(ok("consumer-14", "orders"))
	mustFlush(t, m)
	if got := led.total(nil).Requests; got != 12 {
		t.Errorf("ledger holds %d requests, want 12", got)
	}
	if !strings.Contains(h.logText(), "counted again") {
		t.Errorf("end of dropping not logged:\n%s", h.logText())
	}
}

func TestClose(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:10Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a"}))
	m.Record(ok("acme", "orders"))
	m.Record(ok("acme", "orders"))
	mustFlush(t, m) // Written, but the minute is still open.
	m.Record(ok("acme", "orders"))
	if err := m.Close(t.Context()); err != nil {
		t.Fatalf("Close(): %v", err)
	}
	if got := led.total(nil).Requests; got != 3 {
		t.Errorf("after Close the ledger holds %d requests, want 3", got)
	}
	if got := len(h.finalBuckets()); got != 1 || h.finalBuckets()[0].Requests != 3 {
		t.Errorf("final buckets after Close = %+v, want the open minute with 3 requests", h.finalBuckets())
	}
	m.Record(ok("acme", "orders"))
	if m.Pending() != 0 {
		t.Errorf("a record after Close is held: Pending() = %d", m.Pending())
	}
	if err := m.Close(t.Context()); err != nil {
		t.Errorf("second Close(): %v", err)
	}
}

func TestCloseStorageDown(t *testing.T) {
	led := newFakeLedger()
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, NodeID: "node-a"}))
	m.Record(ok("acme", "orders"))
	led.setMode("down")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := m.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 buckets not stored") {
		t.Errorf("Close() with storage down = %v, want an error naming the lost bucket", err)
	}
	if led.calls < 2 {
		t.Errorf("Close() tried %d times, want retries until its context ended", led.calls)
	}
	if !strings.Contains(h.logText(), "usage lost on shutdown") {
		t.Errorf("loss not logged:\n%s", h.logText())
	}
	led.setMode("")
}

// TestStart runs the real loop on the real clock: what it writes must
// eventually appear, and Close must stop it.
func TestStart(t *testing.T) {
	led := newFakeLedger()
	m := newMeter(t, Options{Ledger: led, FlushInterval: 10 * time.Millisecond})
	m.Start()
	m.Start()
	m.Record(ok("acme", "orders"))
	deadline := time.Now().Add(10 * time.Second)
	for led.total(nil).Requests != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not write the record within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatalf("Close(): %v", err)
	}
	led.mu.Lock()
	calls := led.calls
	led.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	led.mu.Lock()
	defer led.mu.Unlock()
	if led.calls != calls {
		t.Errorf("the loop kept writing after Close (%d calls, then %d)", calls, led.calls)
	}
}

func TestPrune(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:00Z")
	m := newMeter(t, Options{Ledger: led, Now: clk.Now, NodeID: "node-a", Retention: 24 * time.Hour})
	old := ok("acme", "orders")
	old.Time = clk.Now().Add(-25 * time.Hour)
	m.Record(old)
	m.Record(ok("acme", "orders"))
	mustFlush(t, m)
	m.prune(t.Context())
	m.prune(t.Context()) // Within the hour: no second delete.
	clk.set("2026-11-03T11:00:00Z")
	m.prune(t.Context())
	want := []time.Time{
		time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, led.deletes); diff != "" {
		t.Errorf("DeleteUsageBefore calls mismatch (-want +got):\n%s", diff)
	}
	if got := led.total(nil).Requests; got != 1 {
		t.Errorf("after pruning the ledger holds %d requests, want the recent one", got)
	}

	none := newMeter(t, Options{Ledger: led, Now: clk.Now})
	if n, err := none.Prune(t.Context()); n != 0 || err != nil {
		t.Errorf("Prune() without retention = %d, %v, want 0, nil", n, err)
	}
}

func TestBucketID(t *testing.T) {
	base := Bucket{NodeID: "gw-1-0a1b2c3d", UsageRow: store.UsageRow{
		Bucket: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), Consumer: "acme", Route: "orders", Version: "v2",
		UsageCounts: store.UsageCounts{Requests: 3},
	}}
	// Fixed: the export's receivers deduplicate by it across releases.
	const golden = "9d4d210e3d1b9cbd4b5c44e5eedd23ca"
	id := base.ID()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("ID() = %q, want 32 hex digits", id)
	}
	if id != golden {
		t.Errorf("ID() = %s, want %s", id, golden)
	}
	same := base
	same.Requests = 99
	same.Bucket = base.Bucket.In(time.FixedZone("CET", 3600))
	if same.ID() != id {
		t.Error("ID() depends on the totals or the time zone")
	}
	variants := map[string]func(b *Bucket){
		"node":     func(b *Bucket) { b.NodeID = "gw-2-0a1b2c3d" },
		"minute":   func(b *Bucket) { b.Bucket = b.Bucket.Add(time.Minute) },
		"consumer": func(b *Bucket) { b.Consumer = "globex" },
		"route":    func(b *Bucket) { b.Route = "users" },
		"version":  func(b *Bucket) { b.Version = "v1" },
		"shifted":  func(b *Bucket) { b.Consumer, b.Route = "acmeo", "rders" },
	}
	for name, change := range variants {
		b := base
		change(&b)
		if b.ID() == id {
			t.Errorf("ID() of a bucket with another %s is the same", name)
		}
	}
}

func TestNewNodeID(t *testing.T) {
	a, b := newNodeID(), newNodeID()
	if a == b {
		t.Errorf("newNodeID() twice = %q both times", a)
	}
	if !regexp.MustCompile(`^[!-~]+-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("newNodeID() = %q, want host-8hex", a)
	}
	m, err := New(Options{Ledger: newFakeLedger()})
	if err != nil {
		t.Fatal(err)
	}
	if m.NodeID() == "" {
		t.Error("NodeID() of a meter without one is empty")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New() without a ledger = nil error")
	}
}

func TestVersions(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:30Z")
	m := newMeter(t, Options{Ledger: led, Now: clk.Now, NodeID: "node-a", Versions: []string{"v1", "v2"}})
	send := func(versions ...string) {
		for _, v := range versions {
			r := ok("acme", "orders")
			r.Version = v
			m.Record(r)
		}
	}
	// A client may send any version to a route that names none.
	send("v1", "v2", "v2", "", "v3", "x-"+strings.Repeat("a", 1000), "v999")
	for i := range 1000 {
		send(fmt.Sprintf("v%d.%d", 3+i, i))
	}
	mustFlush(t, m)
	byVersion := func() map[string]int64 {
		led.mu.Lock()
		defer led.mu.Unlock()
		out := map[string]int64{}
		for k, v := range led.rows {
			out[k.version] += v.Requests
		}
		return out
	}
	want := map[string]int64{"v1": 1, "v2": 2, "": 1, otherVersion: 1003}
	if diff := cmp.Diff(want, byVersion()); diff != "" {
		t.Errorf("requests by version mismatch (-want +got):\n%s", diff)
	}
	if got := m.Pending(); got != 4 {
		t.Errorf("Pending() = %d, want 4: unknown versions share one bucket", got)
	}

	// v1 is no longer known, but its bucket for this minute is held.
	m.SetVersions([]string{"v3"})
	send("v3", "v1", "v2")
	clk.set("2026-11-03T10:01:30Z")
	send("v1")
	mustFlush(t, m)
	want = map[string]int64{"v1": 2, "v2": 3, "": 1, "v3": 1, otherVersion: 1004}
	if diff := cmp.Diff(want, byVersion()); diff != "" {
		t.Errorf("after SetVersions, requests by version mismatch (-want +got):\n%s", diff)
	}
}

func TestConfigVersions(t *testing.T) {
	cfg := &config.Config{
		Versioning: &config.Versioning{From: []string{"path"}, Default: "V1"},
		Routes: []*config.Route{
			{Name: "orders-v1", Match: config.Match{PathPrefix: "/orders", Version: "v1"}},
			{Name: "orders-v2", Match: config.Match{PathPrefix: "/orders", Version: " V2 "}},
			{Name: "users", Match: config.Match{Path: "/users/{id}"}},
		},
	}
	if diff := cmp.Diff([]string{"", "v1", "v2"}, ConfigVersions(cfg)); diff != "" {
		t.Errorf("ConfigVersions() mismatch (-want +got):\n%s", diff)
	}
	if got := ConfigVersions(&config.Config{}); len(got) != 0 {
		t.Errorf("ConfigVersions() without versioning = %q, want none", got)
	}
}

// TestHashCollisions makes every key hash alike: buckets must still be
// told apart by their strings, and removed from the middle of a chain.
func TestHashCollisions(t *testing.T) {
	led := newFakeLedger()
	clk := newClock("2026-11-03T10:00:30Z")
	var h hooks
	m := newMeter(t, h.options(Options{Ledger: led, Now: clk.Now, NodeID: "node-a", Versions: []string{"v1", "v2"}}))
	m.strHash = func(string) uint64 { return 0x5eed }
	var want store.UsageCounts
	type bucketKey struct {
		consumer, route, version string
		minute                   int
	}
	keys := map[bucketKey]bool{}
	for i := range 120 {
		r := ok(fmt.Sprintf("consumer-%d", i%5), []string{"orders", "users"}[i%2])
		r.Version = []string{"v1", "v2", "v9"}[i%3]
		r.Time = clk.Now().Add(time.Duration(i%4/2) * time.Minute)
		m.Record(r)
		add(&want, r)
		v := r.Version
		if v == "v9" {
			v = otherVersion
		}
		keys[bucketKey{r.Consumer, r.Route, v, i % 4 / 2}] = true
	}
	if got := m.Pending(); got != len(keys) {
		t.Errorf("Pending() = %d, want %d distinct buckets", got, len(keys))
	}
	mustFlush(t, m)
	clk.set("2026-11-03T10:01:10Z") // Seals 10:00, half of each chain.
	mustFlush(t, m)
	if got := m.Pending(); got != len(keys)/2 {
		t.Errorf("after sealing a minute, Pending() = %d, want %d", got, len(keys)/2)
	}
	for i := range 10 {
		m.Record(ok(fmt.Sprintf("consumer-%d", i%5), "orders"))
		add(&want, ok("", ""))
		keys[bucketKey{fmt.Sprintf("consumer-%d", i%5), "orders", "", 1}] = true
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, led.total(nil)); diff != "" {
		t.Errorf("ledger totals mismatch (-want +got):\n%s", diff)
	}
	if got := len(h.finalBuckets()); got != len(keys) {
		t.Errorf("%d final buckets, want %d", got, len(keys))
	}
}

// TestFlushLag: the lag is the time since the last flush that wrote
// everything began; it grows while storage is down and drops back once a
// flush succeeds.
func TestFlushLag(t *testing.T) {
	clk := newClock("2026-11-03T10:00:00Z")
	led := newFakeLedger()
	m := newMeter(t, Options{Ledger: led, Now: clk.Now})
	if got := m.FlushLag(); got != 0 {
		t.Errorf("FlushLag() at start = %v, want 0", got)
	}
	clk.set("2026-11-03T10:00:05Z")
	m.Record(ok("acme", "orders"))
	mustFlush(t, m)
	clk.set("2026-11-03T10:00:06Z")
	if got := m.FlushLag(); got != time.Second {
		t.Errorf("FlushLag() a second after a flush = %v, want 1s", got)
	}
	led.setMode("down")
	m.Record(ok("acme", "orders"))
	clk.set("2026-11-03T10:00:07Z")
	if err := m.Flush(t.Context()); err == nil {
		t.Fatal("Flush() with storage down = nil")
	}
	clk.set("2026-11-03T10:01:05Z")
	if got := m.FlushLag(); got != time.Minute {
		t.Errorf("FlushLag() with storage down since a minute = %v, want 1m", got)
	}
	led.setMode("")
	mustFlush(t, m)
	if got := m.FlushLag(); got != 0 {
		t.Errorf("FlushLag() right after a good flush = %v, want 0", got)
	}
}
