package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// counted is an upstream that counts its requests and answers status (200
// by default) with the body it received.
type counted struct {
	*httptest.Server
	hits   atomic.Int32
	status atomic.Int32
	delay  atomic.Int64
	mu     sync.Mutex
	bodies []string
}

func newCounted(tb testing.TB) *counted {
	tb.Helper()
	c := &counted{}
	c.status.Store(http.StatusOK)
	c.Server = newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, string(b))
		c.mu.Unlock()
		if d := time.Duration(c.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(int(c.status.Load()))
		fmt.Fprintf(w, "%s", b)
	})
	return c
}

// deadURL returns the URL of a server that no longer listens.
func deadURL(tb testing.TB) string {
	tb.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

func newRetryProxy(tb testing.TB, up *config.Upstream, rt *config.Route, urls ...string) (pipeline.Handler, *upstream.Pool) {
	tb.Helper()
	for _, u := range urls {
		up.Targets = append(up.Targets, &config.Target{URL: u, Weight: 1})
	}
	pool := mustPool(tb, up)
	h, err := New(pool, up, rt, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return h, pool
}

func send(h pipeline.Handler, method, body string) (*httptest.ResponseRecorder, *pipeline.Exchange, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	x := &pipeline.Exchange{ClientIP: "192.0.2.10"}
	rec, err := call(h, httptest.NewRequest(method, "/orders", rd), x)
	return rec, x, err
}

func TestRetryIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   string
		rt     *config.Route
		broken string // dead, 503, 500
		// wantOK is whether every request succeeds; wantBrokenHits is how
		// many of 30 requests the broken target sees (-1: any).
		wantOK bool
	}{
		{"GET after connect error", "GET", "", nil, "dead", true},
		{"GET after 503", "GET", "", nil, "503", true},
		{"GET after 502", "GET", "", nil, "502", true},
		{"HEAD after 504", "HEAD", "", nil, "504", true},
		{"PUT with body after 503", "PUT", `{"status":"shipped"}`, nil, "503", true},
		{"DELETE after connect error", "DELETE", "", nil, "dead", true},
		{"GET after 500 is not retried", "GET", "", nil, "500", false},
		{"POST after 503 is not retried", "POST", `{"sku":"A-1"}`, nil, "503", false},
		{"PATCH after connect error is retried: nothing was sent", "PATCH", `{}`, nil, "dead", true},
		{"PATCH after 503 is not retried", "PATCH", `{}`, nil, "503", false},
		{"POST with opt-in", "POST", `{"sku":"A-1"}`, &config.Route{RetryNonIdempotent: true}, "503", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := newCounted(t)
			var brokenURL string
			var broken *counted
			if tt.broken == "dead" {
				brokenURL = deadURL(t)
			} else {
				broken = newCounted(t)
				var code int
				fmt.Sscan(tt.broken, &code)
				broken.status.Store(int32(code))
				brokenURL = broken.URL
			}
			h, pool := newRetryProxy(t, &config.Upstream{Retries: 1}, tt.rt, brokenURL, good.URL)
			failed := 0
			for range 30 {
				// Half the first attempts fail, more than the retry budget
				// allows (TestRetryBudgetCaps); fill it up.
				for range 5 {
					pool.Budget().Deposit()
				}
				rec, x, err := send(h, tt.method, tt.body)
				ok := err == nil && rec.Code == http.StatusOK
				if !ok {
					failed++
					continue
				}
				if tt.method != "HEAD" && rec.Body.String() != tt.body {
					t.Errorf("body relayed = %q, want %q", rec.Body.String(), tt.body)
				}
				if x.Target != good.URL {
					t.Errorf("Exchange.Target = %q, want the last target %q", x.Target, good.URL)
				}
				if x.Attempts < 1 || x.Attempts > 2 {
					t.Errorf("Exchange.Attempts = %d, want 1 or 2", x.Attempts)
				}
			}
			switch {
			case tt.wantOK && failed > 0:
				t.Errorf("%d of 30 requests failed, want none (retried)", failed)
			case !tt.wantOK && failed != 15:
				t.Errorf("%d of 30 requests failed, want the 15 sent to the broken target (no retry)", failed)
			}
			if broken != nil {
				if got := broken.hits.Load(); got != 15 {
					t.Errorf("broken target saw %d requests, want 15 (each once)", got)
				}
			}
			if want := 15 + 15*boolInt(tt.wantOK); good.hits.Load() != int32(want) {
				t.Errorf("good target saw %d requests, want %d", good.hits.Load(), want)
			}
			good.mu.Lock()
			defer good.mu.Unlock()
			for _, b := range good.bodies {
				if b != tt.body {
					t.Errorf("good target received body %q, want %q", b, tt.body)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRetryLargeBodyNotRetried(t *testing.T) {
	t.Parallel()
	a, b := newCounted(t), newCounted(t)
	a.status.Store(http.StatusServiceUnavailable)
	h, _ := newRetryProxy(t, &config.Upstream{Retries: 1}, nil, a.URL, b.URL)
	big := strings.Repeat("x", MaxReplayBody+1)
	small := strings.Repeat("y", MaxReplayBody)
	for _, tt := range []struct {
		body   string
		chunk  bool
		status int
	}{
		{big, false, 503}, {big, true, 503}, {small, false, 200}, {small, true, 200},
	} {
		a.hits.Store(0)
		b.hits.Store(0)
		// Round robin: even requests go to a first.
		for i := range 2 {
			r := httptest.NewRequest("PUT", "/orders", strings.NewReader(tt.body))
			if tt.chunk {
				r.ContentLength = -1
			}
			x := &pipeline.Exchange{}
			rec, err := call(h, r, x)
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			want := http.StatusOK
			if i == 0 {
				want = tt.status
			}
			if rec.Code != want || (want == 200 && rec.Body.Len() != len(tt.body)) {
				t.Errorf("PUT of %d bytes (chunked %v), request %d: %d with %d bytes, want %d with the body", len(tt.body), tt.chunk, i, rec.Code, rec.Body.Len(), want)
			}
		}
	}
}

func TestNoRetryAfterResponseStarted(t *testing.T) {
	t.Parallel()
	var aHits atomic.Int32
	a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		aHits.Add(1)
		resetAfter(w, r)
	})
	b := newCounted(t)
	h, _ := newRetryProxy(t, &config.Upstream{Retries: 2}, nil, a.URL, b.URL)
	x := &pipeline.Exchange{}
	_, err := call(h, httptest.NewRequest("GET", "/orders", nil), x)
	if err == nil || !strings.Contains(err.Error(), http.ErrAbortHandler.Error()) {
		t.Fatalf("ServeHTTP() error = %v, want an aborted response", err)
	}
	if aHits.Load() != 1 || b.hits.Load() != 0 || x.Attempts != 1 {
		t.Errorf("hits a=%d b=%d attempts=%d, want 1, 0, 1: nothing is retried once the response started", aHits.Load(), b.hits.Load(), x.Attempts)
	}
}

func TestTimeoutNotRetried(t *testing.T) {
	t.Parallel()
	slow, fast := newCounted(t), newCounted(t)
	slow.delay.Store(int64(5 * time.Second))
	h, _ := newRetryProxy(t, &config.Upstream{Retries: 1, Timeouts: config.Timeouts{Response: config.Duration(150 * time.Millisecond)}}, nil, slow.URL, fast.URL)
	start := time.Now()
	_, x, err := send(h, "GET", "")
	took := time.Since(start)
	he, ok := err.(*pipeline.HTTPError)
	if !ok || he.Status != http.StatusGatewayTimeout {
		t.Fatalf("ServeHTTP() = %v, want 504", err)
	}
	if took < 150*time.Millisecond || took > time.Second {
		t.Errorf("504 after %v, want at the 150ms timeout", took)
	}
	if fast.hits.Load() != 0 || x.Attempts != 1 {
		t.Errorf("fast target hits %d, attempts %d; a timeout must not be retried", fast.hits.Load(), x.Attempts)
	}
}

func TestRetryBudgetCaps(t *testing.T) {
	t.Parallel()
	ups := []*counted{newCounted(t), newCounted(t), newCounted(t)}
	for _, u := range ups {
		u.status.Store(http.StatusServiceUnavailable)
	}
	h, _ := newRetryProxy(t, &config.Upstream{Retries: 2}, nil, ups[0].URL, ups[1].URL, ups[2].URL)
	const requests = 500
	start := time.Now()
	for range requests {
		rec, _, err := send(h, "GET", "")
		if err != nil || rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("ServeHTTP() = %d, %v; want the upstream's 503", rec.Code, err)
		}
	}
	var hits int32
	for _, u := range ups {
		hits += u.hits.Load()
	}
	retries := float64(hits - requests)
	allowed := requests*upstream.BudgetRatio + upstream.BudgetMinPerSec*(1+time.Since(start).Seconds()) + 1
	if retries > allowed {
		t.Errorf("%d requests made %.0f retries, want at most %.0f (the budget)", requests, retries, allowed)
	}
	if retries < requests*upstream.BudgetRatio*0.9 {
		t.Errorf("%d requests made only %.0f retries, want about %.0f", requests, retries, requests*upstream.BudgetRatio)
	}
}

func TestPassiveEjectionThroughProxy(t *testing.T) {
	t.Parallel()
	bad, good := newCounted(t), newCounted(t)
	bad.status.Store(http.StatusInternalServerError)
	h, pool := newRetryProxy(t, &config.Upstream{Passive: &config.Passive{Failures: 3, EjectFor: config.Duration(time.Hour)}}, nil, bad.URL, good.URL)
	for range 40 {
		send(h, "GET", "")
	}
	if got := bad.hits.Load(); got != 3 {
		t.Errorf("failing target got %d requests, want 3 (then ejected)", got)
	}
	if st := pool.Targets()[0].Status(); st.State != "ejected" {
		t.Errorf("failing target state = %q, want ejected", st.State)
	}
	for _, tg := range pool.Targets() {
		if n := tg.InFlight(); n != 0 {
			t.Errorf("%s InFlight() = %d after all requests, want 0", tg.Name, n)
		}
	}
}

func TestAllTargetsDownIs503AtOnce(t *testing.T) {
	t.Parallel()
	h, pool := newRetryProxy(t, &config.Upstream{Retries: 2}, nil, deadURL(t), deadURL(t))
	for _, tg := range pool.Targets() {
		tg.SetHealthy(false)
	}
	start := time.Now()
	_, _, err := send(h, "GET", "")
	he, ok := err.(*pipeline.HTTPError)
	if !ok || he.Status != http.StatusServiceUnavailable || he.Code != pipeline.CodeNoHealthyUpstream {
		t.Fatalf("ServeHTTP() = %v, want 503 no_healthy_upstream", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("503 took %v, want at once", d)
	}
}

func TestLeastConnPrefersIdle(t *testing.T) {
	t.Parallel()
	busy, idle := newCounted(t), newCounted(t)
	release := make(chan struct{})
	var held atomic.Int32
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			held.Add(1)
			<-release
			return
		}
		busy.hits.Add(1)
	})
	st := upstream.NewState(upstream.StateOptions{})
	build := func(balancer string, urls ...string) pipeline.Handler {
		up := &config.Upstream{Balancer: balancer}
		for _, u := range urls {
			up.Targets = append(up.Targets, &config.Target{URL: u, Weight: 1})
		}
		pool, err := upstream.NewPool("users", up, st)
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(pool, up, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// The same upstream in an older generation that only had the slow
	// target: its requests count in the shared state.
	holder := build("round_robin", slow.URL)
	h := build("least_conn", slow.URL, idle.URL)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			call(holder, httptest.NewRequest("GET", "/orders?hold=1", nil), &pipeline.Exchange{})
		})
	}
	for held.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	for range 50 {
		send(h, "GET", "")
	}
	close(release)
	wg.Wait()
	if idle.hits.Load() != 50 || busy.hits.Load() != 0 {
		t.Errorf("idle target got %d of 50 requests while the other had 3 in flight, want all", idle.hits.Load())
	}
	// Once both are idle they share the load again.
	for range 50 {
		send(h, "GET", "")
	}
	if busy.hits.Load() < 10 {
		t.Errorf("after the slow requests ended the first target got %d of 50, want about half", busy.hits.Load())
	}
}

func TestP2CSteersAwayFromSlow(t *testing.T) {
	t.Parallel()
	slow, f1, f2 := newCounted(t), newCounted(t), newCounted(t)
	slow.delay.Store(int64(50 * time.Millisecond))
	h, _ := newRetryProxy(t, &config.Upstream{Balancer: "p2c_ewma"}, nil, slow.URL, f1.URL, f2.URL)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				send(h, "GET", "")
			}
		})
	}
	wg.Wait()
	total := slow.hits.Load() + f1.hits.Load() + f2.hits.Load()
	if share := float64(slow.hits.Load()) / float64(total); share > 0.1 {
		t.Errorf("slow target got %d of %d requests (%.0f%%), want under 10%%", slow.hits.Load(), total, share*100)
	}
}

func TestWeightedDistribution(t *testing.T) {
	t.Parallel()
	a, b, c := newCounted(t), newCounted(t), newCounted(t)
	up := &config.Upstream{Targets: []*config.Target{{URL: a.URL, Weight: 5}, {URL: b.URL, Weight: 3}, {URL: c.URL, Weight: 2}}}
	h, _ := newRetryProxy(t, up, nil)
	const n = 10000
	for range n {
		if rec, _, err := send(h, "GET", ""); err != nil || rec.Code != 200 {
			t.Fatalf("request failed: %v", err)
		}
	}
	for _, tt := range []struct {
		name string
		got  int32
		want float64
	}{{"a", a.hits.Load(), 0.5}, {"b", b.hits.Load(), 0.3}, {"c", c.hits.Load(), 0.2}} {
		if share := float64(tt.got) / n; share < tt.want-0.02 || share > tt.want+0.02 {
			t.Errorf("target %s got %.3f of the requests, want %.2f ± 0.02", tt.name, share, tt.want)
		}
	}
}

// resolver answers every name with 127.0.0.1.
type resolver struct{}

func (resolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func TestResolvedTargetKeepsHostName(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	st := upstream.NewState(upstream.StateOptions{Resolver: resolver{}, ResolveEvery: time.Hour})
	cfg := &config.Upstream{Targets: []*config.Target{{URL: "http://users.internal:" + port, Weight: 1}}}
	pool, err := upstream.NewPool("users", cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool.Start(ctx)
	deadline := time.Now().Add(2 * time.Second)
	for pool.Targets()[0].Addr != "127.0.0.1:"+port {
		if time.Now().After(deadline) {
			t.Fatalf("target not resolved: %+v", pool.Targets()[0])
		}
		time.Sleep(time.Millisecond)
	}
	h, err := New(pool, cfg, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := &pipeline.Exchange{}
	rec, err := call(h, httptest.NewRequest("GET", "/users/7", nil), x)
	if err != nil || rec.Code != 200 {
		t.Fatalf("ServeHTTP() = %d, %v", rec.Code, err)
	}
	if got := decodeSeen(t, rec.Body.String()).Host; got != "users.internal:"+port {
		t.Errorf("upstream saw Host %q, want the configured name users.internal:%s", got, port)
	}
	if want := "http://127.0.0.1:" + port; x.Target != want {
		t.Errorf("Exchange.Target = %q, want %q", x.Target, want)
	}
}
