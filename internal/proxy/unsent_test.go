package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// rawTarget is a loopback target that serves each connection by hand and
// counts the requests it read whole.
type rawTarget struct {
	ln    net.Listener
	reads atomic.Int32
}

func newRawTarget(tb testing.TB, serve func(t *rawTarget, c net.Conn)) *rawTarget {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("Listen() error: %v", err)
	}
	rt := &rawTarget{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(rt, c)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return rt
}

func (rt *rawTarget) url() string { return "http://" + rt.ln.Addr().String() }

// readsThenCloses reads one request whole and closes without answering.
func readsThenCloses(rt *rawTarget, c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	if _, err := io.Copy(io.Discard, req.Body); err == nil {
		rt.reads.Add(1)
	}
}

// closesAtOnce closes every connection as soon as it is accepted.
func closesAtOnce(*rawTarget, net.Conn) {}

// TestRetryUnsent: a request of any method is sent to another target when
// nothing of it was written to the first (connection refused), once, and
// counted as an attempt; one that was written, even to a target that then
// closed without an answer, is never sent again.
func TestRetryUnsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   string
		broken string // refused, reads-then-closes, closes-at-once, 503
		// wantOK says the 15 requests the broken target gets first are
		// retried on the good one.
		wantOK bool
	}{
		{"POST to a refused port", "POST", `{"sku":"A-1"}`, "refused", true},
		{"POST without body to a refused port", "POST", "", "refused", true},
		{"PATCH to a refused port", "PATCH", `{"qty":2}`, "refused", true},
		{"POST read by a target that closed", "POST", `{"sku":"A-1"}`, "reads-then-closes", false},
		{"PATCH read by a target that closed", "PATCH", `{"qty":2}`, "reads-then-closes", false},
		{"POST to a target that closed without reading", "POST", `{"sku":"A-1"}`, "closes-at-once", false},
		{"POST answered 503", "POST", `{"sku":"A-1"}`, "503", false},
	}
	for _, path := range []string{"direct", "net/http"} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				good := newCounted(t)
				var brokenURL string
				var reads func() int32
				switch tt.broken {
				case "refused":
					brokenURL = deadURL(t)
				case "reads-then-closes":
					rt := newRawTarget(t, readsThenCloses)
					brokenURL, reads = rt.url(), rt.reads.Load
				case "closes-at-once":
					rt := newRawTarget(t, closesAtOnce)
					brokenURL, reads = rt.url(), rt.reads.Load
				default:
					c := newCounted(t)
					c.status.Store(http.StatusServiceUnavailable)
					brokenURL, reads = c.URL, c.hits.Load
				}
				h, pool := newRetryProxy(t, &config.Upstream{Retries: 1}, nil, brokenURL, good.URL)
				if path == "net/http" {
					hh := h.(*handler)
					hh.fast = nil
					hh.rp.Transport = NewTransports().Get(0, 0).Std
				}
				failed := 0
				for range 30 {
					for range 5 {
						pool.Budget().Deposit()
					}
					rec, x, err := send(h, tt.method, tt.body)
					if err != nil || rec.Code != http.StatusOK {
						failed++
						if x.Attempts != 1 {
							t.Errorf("failed request made %d attempts, want 1", x.Attempts)
						}
						continue
					}
					if rec.Body.String() != tt.body {
						t.Errorf("body relayed = %q, want %q", rec.Body.String(), tt.body)
					}
				}
				want := 15
				if tt.wantOK {
					want = 0
				}
				if failed != want {
					t.Errorf("%d of 30 requests failed, want %d", failed, want)
				}
				if n := good.hits.Load(); n != int32(30-want) {
					t.Errorf("good target got %d requests, want %d (each once)", n, 30-want)
				}
				if reads != nil {
					wantReads := int32(15)
					if tt.broken == "closes-at-once" {
						wantReads = 0
					}
					if n := reads(); n != wantReads {
						t.Errorf("broken target read %d requests, want %d", n, wantReads)
					}
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
}

// TestRetryUnsentLimits: the retry of a request that is not idempotent
// needs its body at hand and a token of the retry budget.
func TestRetryUnsentLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		chunked bool
		drain   bool
	}{
		{"body over MaxReplayBody", strings.Repeat("x", MaxReplayBody+1), false, false},
		{"body of unknown length", `{"sku":"A-1"}`, true, false},
		{"retry budget spent", `{"sku":"A-1"}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := newCounted(t)
			h, pool := newRetryProxy(t, &config.Upstream{Retries: 2}, nil, deadURL(t), good.URL)
			if tt.drain {
				for pool.Budget().Withdraw() {
				}
			}
			// Round robin: the first request goes to the dead target.
			r := httptest.NewRequest("POST", "/orders", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			x := &pipeline.Exchange{}
			_, err := call(h, r, x)
			var he *pipeline.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadGateway {
				t.Fatalf("ServeHTTP() = %v, want 502", err)
			}
			if x.Attempts != 1 || good.hits.Load() != 0 {
				t.Errorf("attempts %d, good target hits %d; want 1 and 0", x.Attempts, good.hits.Load())
			}
		})
	}
}
