package fixedrate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{name: "empty", d: nil, q: 0.5, want: 0},
		{name: "one", d: ms(7), q: 0.99, want: 7 * time.Millisecond},
		{name: "median odd", d: ms(5, 1, 3), q: 0.5, want: 3 * time.Millisecond},
		{name: "median even", d: ms(4, 1, 3, 2), q: 0.5, want: 2 * time.Millisecond},
		{name: "p99 of 100", d: ms(seq(100)...), q: 0.99, want: 99 * time.Millisecond},
		{name: "p99 of 1000", d: ms(seq(1000)...), q: 0.99, want: 990 * time.Millisecond},
		{name: "max", d: ms(9, 2, 4), q: 1, want: 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.d...)
			if got := Percentile(tt.d, tt.q); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.d[i] {
					t.Fatalf("Percentile reordered its input")
				}
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestRunCountsEveryRequest(t *testing.T) {
	var got atomic.Int64
	var keys sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		keys.Store(r.Header.Get("X-API-Key"), true)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		path       string
		wantOK     int
		wantErrors int
	}{
		{name: "ok", path: "/items?x=1", wantOK: 100},
		{name: "errors", path: "/fail", wantErrors: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got.Store(0)
			res, err := Run(context.Background(), Options{
				URL:      srv.URL + tt.path,
				Header:   http.Header{"X-Api-Key": {"k1"}},
				Rate:     500,
				Duration: 200 * time.Millisecond,
				Conns:    4,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Scheduled != 100 || res.Sent != 100 {
				t.Errorf("Scheduled, Sent = %d, %d, want 100, 100", res.Scheduled, res.Sent)
			}
			if res.OK != tt.wantOK || res.Errors != tt.wantErrors {
				t.Errorf("OK, Errors = %d, %d, want %d, %d", res.OK, res.Errors, tt.wantOK, tt.wantErrors)
			}
			if len(res.Latencies) != tt.wantOK {
				t.Errorf("len(Latencies) = %d, want %d", len(res.Latencies), tt.wantOK)
			}
			if got.Load() != 100 {
				t.Errorf("server saw %d requests, want 100", got.Load())
			}
		})
	}
	if _, ok := keys.Load("k1"); !ok {
		t.Errorf("the configured header did not reach the server")
	}
}

// One stalled response holds up every request queued behind it on the
// only connection. Measured from their due times, those requests are slow;
// a closed-loop generator would have measured them from their late sends
// and reported them fast. Only lower bounds are checked: a loaded machine
// can make latencies larger, never smaller.
func TestRunMeasuresFromDueTime(t *testing.T) {
	const stall = 150 * time.Millisecond
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() { time.Sleep(stall) })
		w.Write([]byte("{}"))
	}))
	defer srv.Close()

	// 20 requests due over 100 ms, all behind the first one's stall.
	res, err := Run(context.Background(), Options{URL: srv.URL, Rate: 200, Duration: 100 * time.Millisecond, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 20 {
		t.Fatalf("OK = %d, want 20", res.OK)
	}
	// The request due last (at 95 ms) cannot finish before the stall ends
	// at 150 ms, so even the fastest latency is at least 55 ms.
	if fastest := res.Percentile(0.01); fastest < stall-95*time.Millisecond {
		t.Errorf("fastest latency = %v, want >= %v: latency is not measured from the due time", fastest, stall-95*time.Millisecond)
	}
	if res.Percentile(1) < stall {
		t.Errorf("max latency = %v, want >= %v", res.Percentile(1), stall)
	}
	if res.MaxLate < stall-95*time.Millisecond {
		t.Errorf("MaxLate = %v, want >= %v", res.MaxLate, stall-95*time.Millisecond)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{name: "no rate", o: Options{URL: "http://127.0.0.1:1/", Duration: time.Second}},
		{name: "no duration", o: Options{URL: "http://127.0.0.1:1/", Rate: 1}},
		{name: "https", o: Options{URL: "https://127.0.0.1:1/", Rate: 1, Duration: time.Second}},
		{name: "no host", o: Options{URL: "/path", Rate: 1, Duration: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.o); err == nil {
				t.Errorf("Run(%+v) = nil error, want one", tt.o)
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	res, err := Run(ctx, Options{URL: srv.URL, Rate: 100, Duration: time.Hour, Conns: 2})
	if err == nil {
		t.Fatalf("Run = nil error after cancel, want context.Canceled")
	}
	if res.Sent >= res.Scheduled {
		t.Errorf("Sent = %d of %d: the run did not stop early", res.Sent, res.Scheduled)
	}
}
