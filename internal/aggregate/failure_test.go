package aggregate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/google/go-cmp/cmp"
)

func TestFailures(t *testing.T) {
	t.Parallel()
	ok := jsonUpstream(t, 0, `{"id":"u-1"}`)
	status := func(code int) string {
		return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, `{"error":"nope"}`)
		}).URL
	}
	html := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<h1>hello</h1>")
	}).URL
	invalid := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id": `)
	}).URL
	twoValues := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		io.WriteString(w, `{"id":1} {"id":2}`)
	}).URL
	big := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"pad":"`+strings.Repeat("x", 2000)+`"}`)
	}).URL
	bigChunked := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"pad":"`)
		w.(http.Flusher).Flush()
		for range 100 {
			io.WriteString(w, strings.Repeat("x", 100))
		}
		io.WriteString(w, `"}`)
	}).URL
	slow := jsonUpstream(t, 2*time.Second, `{}`)
	closed := newUpstream(t, nil)
	closed.Close()

	tests := []struct {
		name     string
		url      string
		optional bool
		raw      bool // no other call reads the answer
		timeout  time.Duration
		// wantStatus 200 means the call is left out.
		wantStatus int
		wantMsg    string
	}{
		{name: "optional 500 is left out", url: status(500), optional: true, wantStatus: 200},
		{name: "optional timeout is left out", url: slow.URL, optional: true, timeout: 50 * time.Millisecond, wantStatus: 200},
		{name: "required 500", url: status(500), wantStatus: 502, wantMsg: `aggregate call "extra" failed: upstream answered 500`},
		{name: "required 404", url: status(404), wantStatus: 502, wantMsg: `upstream answered 404`},
		{name: "required call timeout", url: slow.URL, timeout: 50 * time.Millisecond, wantStatus: 504, wantMsg: `upstream did not answer within the call's timeout of 50ms`},
		{name: "not JSON", url: html, wantStatus: 502, wantMsg: `upstream answered "text/html", not JSON`},
		{name: "invalid JSON", url: invalid, wantStatus: 502, wantMsg: `answer is not valid JSON`},
		{name: "invalid JSON, raw", url: invalid, raw: true, wantStatus: 502, wantMsg: `answer is not valid JSON`},
		{name: "two JSON values", url: twoValues, wantStatus: 502, wantMsg: `answer is not valid JSON`},
		{name: "over the size limit", url: big, wantStatus: 502, wantMsg: `answer of 2010 bytes is larger than the limit of 1024`},
		{name: "over the size limit, streamed", url: bigChunked, wantStatus: 502, wantMsg: `answer is larger than the limit of 1024 bytes`},
		{name: "over the size limit, streamed, raw", url: bigChunked, raw: true, wantStatus: 502, wantMsg: `answer is larger than the limit of 1024 bytes`},
		{name: "connection refused", url: closed.URL, wantStatus: 502, wantMsg: `cannot connect to upstream`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setup{upstreams: map[string][]string{"users": {ok.URL}, "extra": {tt.url}}, deps: Deps{MaxResponseBytes: 1024}}
			extra := &config.AggregateCall{Name: "extra", Upstream: "extra", Path: "/extra", Optional: tt.optional, Timeout: config.Duration(tt.timeout)}
			if !tt.raw {
				extra.Select = []string{"id"}
			}
			cs := []*config.AggregateCall{{Name: "user", Upstream: "users", Path: "/u"}, extra}
			if tt.optional {
				// A call that needs the optional one is left out with it.
				cs = append(cs, &config.AggregateCall{Name: "detail", Upstream: "users", Path: "/d/{extra.id}", Optional: true})
			}
			h, _ := s.build(t, calls(cs...))
			x := params("1")
			rec, err := serve(h, "/dashboard/1", x)
			if tt.wantStatus == 200 {
				if err != nil {
					t.Fatalf("ServeHTTP() error: %v", err)
				}
				if got, want := rec.Body.String(), `{"user":{"id":"u-1"}}`; got != want {
					t.Errorf("answer = %s, want %s", got, want)
				}
				if got := rec.Header().Get("X-Gantry-Partial"); got != "extra,detail" {
					t.Errorf("X-Gantry-Partial = %q, want extra,detail", got)
				}
				if diff := cmp.Diff([]string{"extra", "detail"}, x.Partial); diff != "" {
					t.Errorf("Exchange.Partial (-want +got):\n%s", diff)
				}
				return
			}
			he := httpError(t, err)
			if he.Status != tt.wantStatus || he.Code != pipeline.CodeAggregateFailed {
				t.Errorf("error = %d %s, want %d aggregate_failed", he.Status, he.Code, tt.wantStatus)
			}
			if !strings.Contains(he.Message, tt.wantMsg) || !strings.Contains(he.Message, `"extra"`) {
				t.Errorf("message = %q, want it to name the call and contain %q", he.Message, tt.wantMsg)
			}
			if x.Err != nil || x.Status != 0 {
				t.Errorf("Exchange.Err = %v, Status = %d; the outcome is the server's to record", x.Err, x.Status)
			}
			if rec.Code != 0 || rec.Body.Len() != 0 {
				t.Errorf("handler wrote %d %q; errors are for the server to render", rec.Code, rec.Body.String())
			}
		})
	}
}

func TestNoHealthyTarget(t *testing.T) {
	t.Parallel()
	s := setup{upstreams: map[string][]string{"users": {"http://127.0.0.1:9"}}}
	h, pools := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u"}))
	pools["users"].Targets()[0].SetHealthy(false)
	_, err := serve(h, "/dashboard/1", params("1"))
	he := httpError(t, err)
	if he.Status != http.StatusBadGateway || !strings.Contains(he.Message, `"user" failed: no healthy upstream target`) {
		t.Errorf("error = %d %q, want 502 naming user and no healthy upstream target", he.Status, he.Message)
	}
}

func TestRetriesOnAnotherTarget(t *testing.T) {
	t.Parallel()
	var bad, good atomic.Int64
	down := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		bad.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	tests := []struct {
		name       string
		method     string
		wantStatus int
	}{
		{"GET is retried", "GET", 200},
		{"POST is not", "POST", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Sequential: the counters are shared.
			bad.Store(0)
			good.Store(0)
			s := setup{
				upstreams: map[string][]string{"users": {down.URL, up.URL}},
				configure: func(_ string, u *config.Upstream) { u.Retries = 1 },
			}
			h, _ := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Method: tt.method, Path: "/u"}))
			// Round robin starts at the first target, which fails.
			x := params("1")
			_, err := serve(h, "/dashboard/1", x)
			switch {
			case tt.wantStatus == 200 && err != nil:
				t.Fatalf("ServeHTTP() error: %v", err)
			case tt.wantStatus == 200:
				if bad.Load() != 1 || good.Load() != 1 || x.Attempts != 2 {
					t.Errorf("attempts: down %d, up %d, Exchange.Attempts %d; want 1, 1, 2", bad.Load(), good.Load(), x.Attempts)
				}
			default:
				if he := httpError(t, err); he.Status != tt.wantStatus {
					t.Errorf("status = %d, want %d", he.Status, tt.wantStatus)
				}
				if bad.Load()+good.Load() != 1 || x.Attempts != 1 {
					t.Errorf("%d requests, Exchange.Attempts %d; want 1, 1", bad.Load()+good.Load(), x.Attempts)
				}
			}
		})
	}
}

// TestPassiveHealthSeesCalls: calls report to their targets, so a failing
// target is ejected as for proxied routes.
func TestPassiveHealthSeesCalls(t *testing.T) {
	t.Parallel()
	failing := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	s := setup{
		upstreams: map[string][]string{"users": {failing.URL}},
		configure: func(_ string, u *config.Upstream) {
			u.Passive = &config.Passive{Failures: 2, EjectFor: config.Duration(time.Minute)}
		},
	}
	h, pools := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u", Optional: true}))
	for range 2 {
		if _, err := serve(h, "/dashboard/1", params("1")); err != nil {
			t.Fatalf("ServeHTTP() error: %v", err)
		}
	}
	tg := pools["users"].Targets()[0]
	if tg.Healthy() {
		t.Errorf("target healthy after 2 failed calls with passive.failures 2, want ejected")
	}
	if n := tg.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d after the requests, want 0", n)
	}
}

func TestClientGoneIs499(t *testing.T) {
	t.Parallel()
	for _, optional := range []bool{false, true} {
		t.Run(fmt.Sprintf("optional=%v", optional), func(t *testing.T) {
			t.Parallel()
			arrived := make(chan struct{})
			slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				<-r.Context().Done()
			})
			s := setup{upstreams: map[string][]string{"users": {slow.URL}}}
			h, _ := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u", Optional: optional}))
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-arrived; cancel() }()
			x := params("1")
			rec, err := serveCtx(ctx, h, "/dashboard/1", x)
			he := httpError(t, err)
			if he.Status != pipeline.StatusClientClosed || rec.Code != 0 {
				t.Errorf("status = %d, written %d; want 499, nothing", he.Status, rec.Code)
			}
		})
	}
}

// TestRequiredFailureCallsOffTheOthers: a required call that fails ends
// the request at once, whichever goroutine runs the slow call left (a
// flat aggregate runs its last call on the request's own goroutine), and
// the error names the call that failed, not the one called off.
func TestRequiredFailureCallsOffTheOthers(t *testing.T) {
	t.Parallel()
	failing := failingUpstream(t).URL
	slow := jsonUpstream(t, 5*time.Second, `{}`).URL
	for _, slowLast := range []bool{true, false} {
		t.Run(fmt.Sprintf("slow call last: %v", slowLast), func(t *testing.T) {
			t.Parallel()
			s := setup{upstreams: map[string][]string{"failing": {failing}, "slow": {slow}}}
			cs := []*config.AggregateCall{
				{Name: "broken", Upstream: "failing", Path: "/b"},
				{Name: "waiting", Upstream: "slow", Path: "/w"},
			}
			if !slowLast {
				cs[0], cs[1] = cs[1], cs[0]
			}
			h, _ := s.build(t, calls(cs...))
			start := time.Now()
			_, err := serve(h, "/dashboard/1", params("1"))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the request took %v; the slow call was not called off", d)
			}
			he := httpError(t, err)
			if he.Status != http.StatusBadGateway || !strings.Contains(he.Message, `"broken"`) {
				t.Errorf("error = %d %q, want 502 naming the call that failed", he.Status, he.Message)
			}
		})
	}
}
