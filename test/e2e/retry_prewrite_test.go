package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// orderLedger is an upstream that records how many times it received each
// order (the POST body's id) and answers 201 with the id.
type orderLedger struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func newOrderLedger(t *testing.T) *orderLedger {
	t.Helper()
	l := &orderLedger{seen: make(map[string]int)}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.seen[string(b)]++
		l.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *orderLedger) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[id]
}

func retryConfig(urls ...string) string {
	var b strings.Builder
	for _, u := range urls {
		fmt.Fprintf(&b, "      - {url: %q}\n", u)
	}
	// Passive ejection takes the broken target out after 3 failures; until
	// then round robin sends it every other request.
	return base(fmt.Sprintf(`upstreams:
  svc:
    retries: 1
    passive: {failures: 3, eject_for: 30s}
    targets:
%s
routes:
  - name: svc
    match: {path_prefix: /}
    upstream: svc
`, b.String()))
}

// TestPOSTRetriedWhenNothingWasWritten: one of two targets refuses
// connections (a closed port). A POST sent there never reached it, so the
// gateway sends it to the other target: every POST succeeds, and the target
// that got it got it exactly once.
func TestPOSTRetriedWhenNothingWasWritten(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	good := newOrderLedger(t)
	g := testkit.Start(t, retryConfig(deadURL, good.URL))
	for i := range 20 {
		id := fmt.Sprintf(`{"order":%d}`, i)
		r := do(t, "POST", g.URL+"/orders", id, "Content-Type: application/json")
		if r.Status != http.StatusCreated || string(r.Body) != id {
			t.Errorf("POST %s = %d %q, want 201 from the live target", id, r.Status, r.Body)
		}
		if n := good.count(id); n != 1 {
			t.Errorf("live target received %s %d times, want once", id, n)
		}
	}
}

// TestPOSTNotRetriedOnceWritten: one of two targets accepts connections and
// closes them without reading or answering. The gateway wrote the POST
// there and cannot know whether it was acted on: it answers 502 and does
// not send it again. Every POST reaches the live target at most once, and
// none that failed reached it at all.
func TestPOSTNotRetriedOnceWritten(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			// Whatever arrives is left unread.
			c.Close()
		}
	}()
	good := newOrderLedger(t)
	g := testkit.Start(t, retryConfig("http://"+ln.Addr().String(), good.URL))
	failed := 0
	for i := range 20 {
		id := fmt.Sprintf(`{"order":%d}`, i)
		r := do(t, "POST", g.URL+"/orders", id, "Content-Type: application/json")
		switch r.Status {
		case http.StatusCreated:
			if n := good.count(id); n != 1 {
				t.Errorf("live target received %s %d times, want once", id, n)
			}
		case http.StatusBadGateway:
			failed++
			if n := good.count(id); n != 0 {
				t.Errorf("POST %s answered 502 but the live target received it %d times: it was sent again", id, n)
			}
		default:
			t.Errorf("POST %s = %d %q, want 201 or 502", id, r.Status, r.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if failed == 0 || accepted == 0 {
		t.Errorf("%d POSTs failed, the closing target accepted %d connections; the test exercised nothing", failed, accepted)
	}
}

// TestPOSTLoadSurvivesATargetKill: under a steady load of POSTs over three
// targets, one target dies (listener and connections closed at once, as a
// killed process). Only POSTs already written to it may fail: every POST
// sent after it died succeeds on another target (its pooled connections
// are found closed before use, new connections are refused), and each
// order reaches a target at most once.
func TestPOSTLoadSurvivesATargetKill(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	var inFlight atomic.Int32
	handler := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(b)]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	}
	var urls []string
	var victim *http.Server
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h := http.HandlerFunc(handler)
		if i == 1 {
			// Only the victim's requests count as in flight.
			h = func(w http.ResponseWriter, r *http.Request) {
				inFlight.Add(1)
				defer inFlight.Add(-1)
				handler(w, r)
			}
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, "http://"+ln.Addr().String())
		if i == 1 {
			victim = srv
		}
	}
	// Ejection only after 10 failures: the POSTs in flight when the target
	// dies cannot eject it alone, so later POSTs meet refused connections.
	cfg := strings.Replace(retryConfig(urls...), "retries: 1", "retries: 2", 1)
	cfg = strings.Replace(cfg, "failures: 3", "failures: 10", 1)
	g := testkit.Start(t, cfg)

	var killedAt atomic.Int64 // Unix nanoseconds; 0 while alive
	var next atomic.Int64
	type failure struct {
		id      string
		status  int
		started time.Time
	}
	var fmu sync.Mutex
	var failures []failure
	var ok atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 8
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf(`{"order":%d}`, next.Add(1))
				started := time.Now()
				status := 0
				req, _ := http.NewRequest("POST", g.URL+"/orders", strings.NewReader(id))
				req.Header.Set("Content-Type", "application/json")
				if res, err := client.Do(req); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				if status == http.StatusCreated {
					ok.Add(1)
					continue
				}
				fmu.Lock()
				failures = append(failures, failure{id, status, started})
				fmu.Unlock()
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	before := inFlight.Load()
	victim.Close()
	killedAt.Store(time.Now().UnixNano())
	time.Sleep(600 * time.Millisecond)
	close(stop)
	wg.Wait()

	killed := time.Unix(0, killedAt.Load())
	for _, f := range failures {
		if f.started.After(killed) {
			t.Errorf("POST %s sent %v after the target died = %d, want 201 from another target", f.id, f.started.Sub(killed), f.status)
		}
	}
	if len(failures) > workers {
		t.Errorf("%d POSTs failed, more than the %d that can be in flight at once", len(failures), workers)
	}
	mu.Lock()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("order %s reached the targets %d times, want once", id, n)
		}
	}
	mu.Unlock()
	t.Logf("%d POSTs answered 201, %d failed; the dying target was handling %d when it died", ok.Load(), len(failures), before)
}
