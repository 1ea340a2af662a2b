package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// mirrorResults counts NewMirror's results and signals each one.
type mirrorResults struct {
	mu sync.Mutex
	m  map[string]int
	ch chan string
}

func newMirrorResults() *mirrorResults {
	return &mirrorResults{m: map[string]int{}, ch: make(chan string, 100)}
}

func (r *mirrorResults) add(s string) {
	r.mu.Lock()
	r.m[s]++
	r.mu.Unlock()
	r.ch <- s
}

func (r *mirrorResults) wait(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.ch:
		if got != want {
			t.Fatalf("mirror result %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no mirror result, want %q", want)
	}
}

func newMirror(t *testing.T, url string, mc *config.Mirror, rt *config.Route, res *mirrorResults) *Mirror {
	t.Helper()
	up := &config.Upstream{Targets: []*config.Target{{URL: url, Weight: 1}}}
	if rt == nil {
		rt = &config.Route{Name: "orders"}
	}
	rt.Mirror = mc
	m, err := NewMirror(mustPool(t, up), up, rt, Options{}, res.add)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// primary records the body the terminal got.
func primary(got *string) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		*got = string(b)
		w.WriteHeader(http.StatusOK)
		return err
	})
}

func mirrorRequest(body string, length int64, x *pipeline.Exchange) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/orders/7?full=1", strings.NewReader(body))
	r.ContentLength = length
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Cookie", "theme=dark; gantry-split=abc")
	r.Header.Set("X-Api-Key", "dropped-by-the-rule")
	if x.Path == "" {
		x.Path = r.URL.Path
	}
	return r.WithContext(pipeline.WithExchange(r.Context(), x))
}

func TestMirrorCopiesWhatThePrimaryGets(t *testing.T) {
	t.Parallel()
	copies := make(chan seen, 1)
	shadow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		copies <- seen{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header, Body: string(b)}
		w.WriteHeader(http.StatusInternalServerError)
	})
	res := newMirrorResults()
	rt := &config.Route{Name: "orders", Sticky: &config.Sticky{Cookie: "gantry-split"},
		RequestHeaders: &config.HeaderRules{Remove: []string{"X-Api-Key"}, Set: map[string]string{"X-Env": "shadow"}}}
	m := newMirror(t, shadow.URL, &config.Mirror{Sample: 1, Queue: 10, Workers: 1, Timeout: config.Duration(time.Second)}, rt, res)

	var got string
	body := `{"id":7}`
	x := &pipeline.Exchange{ID: "req-1", Consumer: &pipeline.Consumer{ID: "acme"}}
	if err := m.Middleware(primary(&got)).ServeHTTP(httptest.NewRecorder(), mirrorRequest(body, int64(len(body)), x)); err != nil {
		t.Fatal(err)
	}
	if got != body {
		t.Fatalf("primary got %q, want %q", got, body)
	}
	res.wait(t, telemetry.MirrorSent)
	c := <-copies
	if c.Method != http.MethodPost || c.RequestURI != "/orders/7?full=1" || c.Body != body {
		t.Fatalf("copy = %s %s %q", c.Method, c.RequestURI, c.Body)
	}
	for k, want := range map[string]string{"X-Request-Id": "req-1", "X-Consumer-Id": "acme", "X-Env": "shadow", "X-Api-Key": "", "Cookie": "theme=dark"} {
		if v := c.Header.Get(k); v != want {
			t.Errorf("copy's %s = %q, want %q", k, v, want)
		}
	}
}

func TestMirrorSkipsAndDrops(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	shadow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	res := newMirrorResults()
	m := newMirror(t, shadow.URL, &config.Mirror{Sample: 1, Queue: 1, Workers: 1, Timeout: config.Duration(5 * time.Second)}, nil, res)
	var got string
	h := m.Middleware(primary(&got))

	// A body of unknown length, or over the limit, is not copied, and the
	// primary gets it whole.
	big := strings.Repeat("x", MaxMirrorBody+1)
	for _, tt := range []struct {
		body   string
		length int64
	}{{`{"id":1}`, -1}, {big, int64(len(big))}} {
		if err := h.ServeHTTP(httptest.NewRecorder(), mirrorRequest(tt.body, tt.length, &pipeline.Exchange{})); err != nil {
			t.Fatal(err)
		}
		res.wait(t, telemetry.MirrorSkipped)
		if got != tt.body {
			t.Fatalf("primary got %d bytes, want %d", len(got), len(tt.body))
		}
	}

	// The first copy hangs in the only worker, the second waits in the
	// queue of one, the other three are dropped at once.
	start := time.Now()
	serve := func() {
		if err := h.ServeHTTP(httptest.NewRecorder(), mirrorRequest("", 0, &pipeline.Exchange{})); err != nil {
			t.Fatal(err)
		}
	}
	serve()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first copy never arrived")
	}
	for range 4 {
		serve()
	}
	for range 3 {
		res.wait(t, telemetry.MirrorDropped)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("five requests took %v with a hanging mirror", d)
	}
	if n, q := m.running.Load(), len(m.queue); n != 1 || q != 1 {
		t.Fatalf("%d workers running, %d copies queued; want 1 and 1", n, q)
	}
}

func TestMirrorTimeout(t *testing.T) {
	t.Parallel()
	shadow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	res := newMirrorResults()
	m := newMirror(t, shadow.URL, &config.Mirror{Sample: 1, Queue: 1, Workers: 1, Timeout: config.Duration(100 * time.Millisecond)}, nil, res)
	if err := m.Middleware(primary(new(string))).ServeHTTP(httptest.NewRecorder(), mirrorRequest("", 0, &pipeline.Exchange{})); err != nil {
		t.Fatal(err)
	}
	res.wait(t, telemetry.MirrorFailed)
}

func TestMirrorSample(t *testing.T) {
	t.Parallel()
	shadow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	res := newMirrorResults()
	res.ch = make(chan string, 20_000)
	m := newMirror(t, shadow.URL, &config.Mirror{Sample: 0.1, Queue: 20_000, Workers: 4, Timeout: config.Duration(5 * time.Second)}, nil, res)
	h := m.Middleware(primary(new(string)))
	const n = 20_000
	for range n {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{Path: "/orders"}))
		if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
			t.Fatal(err)
		}
	}
	// Every queued copy is sent; wait until the count stops moving.
	// Binomial(20,000, 0.1): 2,000 ± 42 (one standard
	// deviation); 1,750 to 2,250 is six of them.
	deadline := time.Now().Add(10 * time.Second)
	prev, last := -1, time.Now()
	for {
		res.mu.Lock()
		sent, dropped := res.m[telemetry.MirrorSent], res.m[telemetry.MirrorDropped]
		res.mu.Unlock()
		if dropped != 0 {
			t.Fatalf("%d dropped with a queue of %d", dropped, n)
		}
		if len(m.queue) == 0 && time.Since(last) > 300*time.Millisecond || time.Now().After(deadline) {
			if sent < 1750 || sent > 2250 {
				t.Fatalf("%d copies of %d requests at sample 0.1", sent, n)
			}
			return
		}
		if sent != prev {
			prev, last = sent, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMirrorToH2C(t *testing.T) {
	t.Parallel()
	wc := newWholeCounter(t, true)
	res := newMirrorResults()
	m := newMirror(t, wc.URL, &config.Mirror{Sample: 1, Queue: 1, Workers: 1, Timeout: config.Duration(5 * time.Second)}, nil, res)
	body := `{"id":7}`
	if err := m.Middleware(primary(new(string))).ServeHTTP(httptest.NewRecorder(), mirrorRequest(body, int64(len(body)), &pipeline.Exchange{})); err != nil {
		t.Fatal(err)
	}
	res.wait(t, telemetry.MirrorSent)
	if n := wc.complete.Load(); n != 1 {
		t.Fatalf("the h2c upstream read %d complete copies, want 1", n)
	}
}
