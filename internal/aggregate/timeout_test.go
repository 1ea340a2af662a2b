package aggregate

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
)

// TestTimeoutCancelsEverythingAndLeaksNothing: the aggregate's timeout ends
// a required call, a fan-out and an optional call still running; the answer
// is 504 and every goroutine the request started ends. Not parallel: it
// counts the process's goroutines.
func TestTimeoutCancelsEverythingAndLeaksNothing(t *testing.T) {
	hang := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	fast := jsonUpstream(t, 0, `{"id":"u-1","items":[1,2,3,4,5,6,7,8,9,10,11,12]}`)
	trs := proxy.NewTransports()
	s := setup{
		upstreams: map[string][]string{"users": {fast.URL}, "slow": {hang.URL}},
		deps:      Deps{Transports: trs},
	}
	a := calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u"},
		&config.AggregateCall{Name: "orders", Upstream: "slow", Path: "/orders?user={user.id}"},
		&config.AggregateCall{Name: "items", Upstream: "slow", Path: "/items/{user.items.*}"},
		&config.AggregateCall{Name: "recs", Upstream: "slow", Path: "/recs", Optional: true},
	)
	a.Timeout = config.Duration(150 * time.Millisecond)
	h, _ := s.build(t, a)

	// Settle: goroutines of earlier tests may still be ending.
	baseline := settle(runtime.NumGoroutine(), 0)
	x := params("1")
	start := time.Now()
	_, err := serve(h, "/dashboard/1", x)
	elapsed := time.Since(start)
	he := httpError(t, err)
	if he.Status != http.StatusGatewayTimeout || he.Code != pipeline.CodeAggregateFailed {
		t.Errorf("error = %d %s, want 504 aggregate_failed", he.Status, he.Code)
	}
	if !strings.Contains(he.Message, "not done within the aggregate's timeout of 150ms") ||
		!(strings.Contains(he.Message, `"orders"`) || strings.Contains(he.Message, `"items"`)) {
		t.Errorf("message = %q, want a required call named and the aggregate's timeout", he.Message)
	}
	// Generous: the point is that nothing waits for the hanging upstream.
	if elapsed > 3*time.Second {
		t.Errorf("ServeHTTP took %s with a 150ms timeout", elapsed)
	}
	// 1 user + 1 orders + up to 8 concurrent items + 1 recs.
	if x.Attempts < 4 || x.Attempts > 11 {
		t.Errorf("Attempts = %d, want 4..11", x.Attempts)
	}
	// Keep-alive connections hold goroutines of the transport and the
	// test server; closing the idle ones leaves only what leaked.
	// Idle call workers wait for the next aggregate (workers.go); one
	// whose call ends after the answer goes idle then, so both are closed
	// until the count settles. A call still running is never idle: it
	// stays counted.
	if n := settle(baseline, 5*time.Second, func() { trs.CloseIdle(); workers.closeIdle() }); n > baseline {
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("%d goroutines after the request, %d before:\n%s", n, baseline, buf.String())
	}
}

// settle waits up to d for the goroutine count to fall to at most want,
// running each of tidy before every count, and returns the last count.
func settle(want int, d time.Duration, tidy ...func()) int {
	deadline := time.Now().Add(d)
	count := func() int {
		for _, f := range tidy {
			f()
		}
		return runtime.NumGoroutine()
	}
	n := count()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = count()
	}
	return n
}

// TestOptionalTimeoutKeepsTheAnswer: when the aggregate's timeout ends only
// optional calls, the required answers are sent with 200.
func TestOptionalTimeoutKeepsTheAnswer(t *testing.T) {
	t.Parallel()
	hang := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	fast := jsonUpstream(t, 0, `{"id":"u-1"}`)
	s := setup{upstreams: map[string][]string{"users": {fast.URL}, "slow": {hang.URL}}}
	a := calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u"},
		&config.AggregateCall{Name: "recs", Upstream: "slow", Path: "/recs", Optional: true},
	)
	a.Timeout = config.Duration(100 * time.Millisecond)
	h, _ := s.build(t, a)
	x := params("1")
	rec, err := serve(h, "/dashboard/1", x)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	body, _ := io.ReadAll(rec.Body)
	if string(body) != `{"user":{"id":"u-1"}}` || rec.Header().Get("X-Gantry-Partial") != "recs" {
		t.Errorf("answer = %s, X-Gantry-Partial %q; want the user and recs left out", body, rec.Header().Get("X-Gantry-Partial"))
	}
}
