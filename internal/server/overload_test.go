package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/testkit"
)

func TestAdmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int64
		// steps: '+' acquire expected true, 'x' acquire expected false,
		// '-' release.
		steps string
	}{
		{"no bound", 0, "+++++-----+"},
		{"bound 1", 1, "+x-+x-"},
		{"bound 2", 2, "++xx-+x--++x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &admission{max: tt.max}
			for i, step := range tt.steps {
				switch step {
				case '+', 'x':
					if got, want := a.acquire(), step == '+'; got != want {
						t.Fatalf("step %d: acquire() = %v, want %v", i, got, want)
					}
				case '-':
					a.release()
				}
			}
		})
	}
}

// TestAdmissionConcurrent checks that concurrent requests never exceed the
// bound and that every place comes back.
func TestAdmissionConcurrent(t *testing.T) {
	t.Parallel()
	const bound = 3
	a := &admission{max: bound}
	var in, peak, admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				if !a.acquire() {
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				n := in.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				in.Add(-1)
				a.release()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > bound {
		t.Errorf("%d requests admitted at once, want at most %d", p, bound)
	}
	if n := a.n.Load(); n != 0 {
		t.Errorf("%d places still taken after every release", n)
	}
	if admitted.Load()+refused.Load() != 16000 || admitted.Load() == 0 {
		t.Errorf("admitted %d, refused %d of 16000", admitted.Load(), refused.Load())
	}
}

func TestAdmissionAllocs(t *testing.T) {
	a := &admission{max: 10}
	if n := testing.AllocsPerRun(100, func() {
		if a.acquire() {
			a.release()
		}
	}); n != 0 {
		t.Errorf("acquire and release allocate %.1f times, want 0", n)
	}
}

// TestConnLimiter: the connection beyond the bound is closed at once and
// never handed to the server; a place freed by a close is taken again.
func TestConnLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		extra  int // connections dialled beyond max
		reject bool
	}{
		{"bound 2", 2, 1, true},
		{"bound 1, three extra", 1, 3, true},
		{"no bound", 0, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			m := telemetry.NewMetrics()
			ln := newConnLimiter(inner, tt.max, m)
			defer ln.Close()
			accepted := make(chan net.Conn, 16)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- c
				}
			}()
			dial := func() net.Conn {
				t.Helper()
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			within := tt.max
			if tt.max == 0 {
				within = tt.extra
			}
			var server []net.Conn
			for range within {
				dial()
				select {
				case c := <-accepted:
					server = append(server, c)
				case <-time.After(5 * time.Second):
					t.Fatal("a connection within the bound was not accepted")
				}
			}
			if got := m.ConnectionsOpen(); got != int64(within) {
				t.Errorf("ConnectionsOpen() = %d, want %d", got, within)
			}
			if !tt.reject {
				return
			}
			for range tt.extra {
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					// The reset can come before connect returns.
					continue
				}
				t.Cleanup(func() { c.Close() })
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1))
				var ne net.Error
				if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
					t.Fatalf("read on a connection beyond the bound: %v, want it closed at once", err)
				}
			}
			select {
			case c := <-accepted:
				t.Fatalf("a connection beyond the bound was handed to the server: %v", c.RemoteAddr())
			default:
			}
			if got := m.ConnectionsOpen(); got != int64(within) {
				t.Errorf("ConnectionsOpen() after refusals = %d, want %d", got, within)
			}
			// Closing twice frees one place.
			server[0].Close()
			server[0].Close()
			if got := m.ConnectionsOpen(); got != int64(within-1) {
				t.Errorf("ConnectionsOpen() after a close = %d, want %d", got, within-1)
			}
			dial()
			select {
			case c := <-accepted:
				c.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("no connection accepted after one closed")
			}
			if got := scrapeValue(t, m, "gantry_connections_rejected_total"); got != float64(tt.extra) {
				t.Errorf("gantry_connections_rejected_total = %v, want %d", got, tt.extra)
			}
		})
	}
}

// TestShedding: with max_concurrent_requests 1 and one request held by the
// upstream, the next is answered 503 overloaded with Retry-After: 1, and
// never reaches the upstream.
func TestShedding(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
	}))
	cfg := parseConfig(t, gatewayConfig(up.URL, catchAll))
	cfg.Server.Limits.MaxConcurrentRequests = 1
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	held := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/slow", nil))
		held <- rec.Code
	}()
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/shed", nil))
	var body struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 503 || body.Error != "overloaded" || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("request beyond the bound = %d %q Retry-After %q, want 503 overloaded with Retry-After 1", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1 (the shed one must not reach it)", n)
	}
	close(release)
	if code := <-held; code != 200 {
		t.Errorf("held request = %d, want 200", code)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/after", nil))
	if rec.Code != 200 {
		t.Errorf("request after the held one finished = %d, want 200", rec.Code)
	}
	if got := scrapeValue(t, s.metrics, "gantry_requests_shed_total"); got != 1 {
		t.Errorf("gantry_requests_shed_total = %v, want 1", got)
	}
}

// scrapeValue returns the value of an unlabelled series of m.
func scrapeValue(t *testing.T, m *telemetry.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		mt := mf.GetMetric()[0]
		switch {
		case mt.GetCounter() != nil:
			return mt.GetCounter().GetValue()
		case mt.GetGauge() != nil:
			return mt.GetGauge().GetValue()
		}
	}
	t.Fatalf("series %s missing", name)
	return 0
}

func TestReleaser(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name string
		open []int64 // connections open at each tick
		// allocs and unreturned are the heap's state at each tick, MiB;
		// nil is a busy heap with nothing to return.
		allocs, unreturned []uint64
		want               []bool // whether that tick freed memory
	}{
		{name: "quiet", open: []int64{0, 3, 5, 2, 0}, want: []bool{false, false, false, false, false}},
		{name: "storm ebbs", open: []int64{100, 3000, 2000, 1400, 1400, 10}, want: []bool{false, false, false, true, false, true}},
		{name: "storm ends at once", open: []int64{3000, 0, 0}, want: []bool{false, true, false}},
		{name: "second storm", open: []int64{3000, 0, 2000, 100}, want: []bool{false, true, false, true}},
		{name: "drop too small", open: []int64{600, 200, 100}, want: []bool{false, false, false}},
		{name: "steady load", open: []int64{4000, 3500, 4100, 3000, 2500}, want: []bool{false, false, false, false, false}},
		{
			name:       "busy spell ends",
			open:       []int64{64, 64, 64, 0, 0, 0},
			allocs:     []uint64{0, 80, 160, 200, 200, 200},
			unreturned: []uint64{20, 30, 25, 30, 30, 0},
			want:       []bool{true, false, false, false, true, false},
		},
		{
			// The first quiet tick returns the start's code pages.
			name:       "idle with little to return",
			open:       []int64{1, 1, 1, 1},
			allocs:     []uint64{0, 0, 0, 0},
			unreturned: []uint64{1, 1, 1, 1},
			want:       []bool{true, false, false, false},
		},
		{
			name:       "busy from the start",
			open:       []int64{64, 64, 64, 0},
			allocs:     []uint64{0, 80, 160, 160},
			unreturned: []uint64{1, 1, 1, 10},
			want:       []bool{true, false, false, true},
		},
		{
			name:       "trickle after start",
			open:       []int64{2, 2, 2, 2, 2},
			allocs:     []uint64{0, 0, 1, 1, 2},
			unreturned: []uint64{30, 0, 1, 2, 3},
			want:       []bool{true, false, false, false, false},
		},
		{
			name:       "steady moderate load",
			open:       []int64{8, 8, 8, 8},
			allocs:     []uint64{4, 8, 12, 16},
			unreturned: []uint64{6, 6, 6, 6},
			want:       []bool{false, false, false, false},
		},
		{
			name:       "reload while quiet",
			open:       []int64{1, 1, 1, 1},
			allocs:     []uint64{0, 40, 40, 40},
			unreturned: []uint64{0, 35, 35, 0},
			want:       []bool{true, false, true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var i int
			freed := 0
			r := newReleaser(func() int64 { return tt.open[i] })
			r.free = func() { freed++ }
			r.heap = func() heapState {
				if tt.allocs == nil {
					return heapState{allocs: uint64(i+1) * 100 * mib}
				}
				return heapState{allocs: tt.allocs[i] * mib, unreturned: tt.unreturned[i] * mib}
			}
			for i = range tt.open {
				if got := r.tick(); got != tt.want[i] {
					t.Errorf("tick %d with %d open = %v, want %v", i, tt.open[i], got, tt.want[i])
				}
			}
			want := 0
			for _, w := range tt.want {
				if w {
					want++
				}
			}
			if freed != want {
				t.Errorf("memory freed %d times, want %d", freed, want)
			}
		})
	}
}

// readHeap reads the runtime's own numbers: allocation only grows, and
// garbage left behind shows as unreturned until a collection.
func TestReadHeap(t *testing.T) {
	// No collection in between: it would turn the garbage into free
	// pages, which the scavenger may return at any time.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := readHeap()
	for range 64 {
		heapSink = append(heapSink, make([]byte, 64<<10))
	}
	heapSink = nil
	after := readHeap()
	if after.allocs < before.allocs+4<<20 {
		t.Errorf("allocs grew by %d bytes after allocating 4 MiB", after.allocs-before.allocs)
	}
	if after.unreturned < 4<<20 {
		t.Errorf("unreturned = %d bytes with 4 MiB of garbage, want at least 4 MiB", after.unreturned)
	}
}

// heapSink keeps TestReadHeap's allocations from being optimised away.
var heapSink [][]byte
