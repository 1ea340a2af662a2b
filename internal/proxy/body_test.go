package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// failingBody is a client's request body that gives data, then fails with
// err, canceling the request first when cancel is set (net/http's server
// cancels the request's context when its connection read fails).
type failingBody struct {
	data   *strings.Reader
	err    error
	cancel context.CancelFunc
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.data.Len() > 0 {
		return b.data.Read(p)
	}
	if b.cancel != nil {
		b.cancel()
	}
	return 0, b.err
}

func (b *failingBody) Close() error { return nil }

// wholeCounter is an upstream that counts the requests whose body it read
// to the end, and those it could not.
type wholeCounter struct {
	*httptest.Server
	complete, incomplete atomic.Int32
}

// newWholeCounter starts one; URL is its target URL (h2c:// for an HTTP/2
// upstream with prior knowledge).
func newWholeCounter(tb testing.TB, h2c bool) *wholeCounter {
	wc := &wholeCounter{}
	wc.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			wc.incomplete.Add(1)
			return
		}
		wc.complete.Add(1)
	}))
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		wc.Config.Protocols = &p
	}
	wc.Start()
	tb.Cleanup(wc.Close)
	if h2c {
		wc.URL = "h2c://" + strings.TrimPrefix(wc.URL, "http://")
	}
	return wc
}

var (
	errBareLF  = errors.New("chunked line ends with bare LF")
	errTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	errReset   = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	errH2Short = errors.New("request declared a Content-Length of 10 but only wrote 3 bytes")
)

// TestClientBodyFailureIsTheClients: whatever path the body takes, a body
// the client fails to deliver is answered by its cause and never held
// against a target: no passive failure (one would eject), no retry, no
// upstream attempt counted, no complete request upstream.
func TestClientBodyFailureIsTheClients(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		length  int64 // Content-Length; -1 unknown (chunked)
		data    string
		err     error
		cancel  bool
		retries int
		status  int
		code    string
	}{
		{"malformed chunked, streamed", "POST", -1, "abc", errBareLF, false, 0, 400, "bad_request"},
		{"malformed chunked, buffered for retries", "PUT", -1, "abc", errBareLF, false, 2, 400, "bad_request"},
		{"malformed chunked after 64 KiB", "PUT", -1, strings.Repeat("a", 70<<10), errBareLF, false, 2, 400, "bad_request"},
		{"short body, direct path", "POST", 10, "abc", io.ErrUnexpectedEOF, true, 0, 400, "bad_request"},
		{"short body, streamed", "POST", 100 << 10, strings.Repeat("a", 70<<10), io.ErrUnexpectedEOF, true, 0, 400, "bad_request"},
		{"short body, buffered for retries", "PUT", 10, "abc", io.ErrUnexpectedEOF, true, 2, 400, "bad_request"},
		{"HTTP/2 content-length mismatch", "POST", 10, "abc", errH2Short, false, 0, 400, "bad_request"},
		{"read timeout, direct path", "POST", 100, "0123456789", errTimeout, true, 0, 408, "request_timeout"},
		{"read timeout, streamed", "POST", -1, "0123456789", errTimeout, true, 0, 408, "request_timeout"},
		{"read timeout, buffered for retries", "PUT", 100, "0123456789", errTimeout, true, 2, 408, "request_timeout"},
		{"client gone, direct path", "POST", 100, "0123456789", errReset, true, 0, 499, "client_closed_request"},
		{"client gone, streamed", "POST", -1, "0123456789", errReset, true, 0, 499, "client_closed_request"},
		{"over the body limit", "POST", -1, "0123456789", &http.MaxBytesError{Limit: 5}, false, 0, 413, "body_too_large"},
	}
	for _, h2c := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if h2c {
				name = "h2c upstream, " + name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				a, b := newWholeCounter(t, h2c), newWholeCounter(t, h2c)
				m := telemetry.NewMetrics()
				up := &config.Upstream{Retries: tt.retries, Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)},
					Targets: []*config.Target{{URL: a.URL}, {URL: b.URL}}}
				pool, err := upstream.NewPool("users", up, upstream.NewState(upstream.StateOptions{Metrics: m}))
				if err != nil {
					t.Fatal(err)
				}
				h, err := New(pool, up, &config.Route{Name: "orders", RetryNonIdempotent: true}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				body := &failingBody{data: strings.NewReader(tt.data), err: tt.err}
				if tt.cancel {
					body.cancel = cancel
				}
				r := httptest.NewRequestWithContext(ctx, tt.method, "/orders", body)
				r.ContentLength = tt.length
				x := &pipeline.Exchange{ClientIP: "192.0.2.10", Admitted: true}
				rec, err := call(h, r, x)

				var he *pipeline.HTTPError
				if !errors.As(err, &he) || he.Status != tt.status || he.Code != tt.code {
					t.Fatalf("ServeHTTP() = %v, want %d %s", err, tt.status, tt.code)
				}
				if he.Close != (tt.status != 499) {
					t.Errorf("Close = %v for %d", he.Close, tt.status)
				}
				var be *pipeline.BodyError
				if !errors.As(x.Err, &be) {
					t.Errorf("x.Err = %v, want a *pipeline.BodyError in it", x.Err)
				}
				if tt.status == 499 && x.Status != 499 {
					t.Errorf("x.Status = %d, want 499", x.Status)
				}
				if rec.Code != 0 {
					t.Errorf("wrote status %d, want nothing (the server renders errors)", rec.Code)
				}
				if x.Attempts > 1 {
					t.Errorf("Attempts = %d, want no retry", x.Attempts)
				}
				// The upstream handlers may still be reading a cut body.
				time.Sleep(20 * time.Millisecond)
				if n := a.complete.Load() + b.complete.Load(); n != 0 {
					t.Errorf("upstreams got %d complete requests, want 0", n)
				}
				for _, tg := range pool.Targets() {
					if st := tg.Status(); st.State != "healthy" {
						t.Errorf("target %s is %s, want healthy", tg.Name, st.State)
					}
				}
				if bad := upstreamErrorSeries(t, m); len(bad) > 0 {
					t.Errorf("attempts counted against the upstream: %q", bad)
				}
			})
		}
	}
}

// upstreamErrorSeries returns the gantry_upstream_requests_total series of
// attempts without an answer or with a 5xx.
func upstreamErrorSeries(t *testing.T, m *telemetry.Metrics) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var bad []string
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "gantry_upstream_requests_total{") && failedStatus(l) {
			bad = append(bad, l)
		}
	}
	return bad
}

// slowFailingBody gives data at once, then fails with err after delay.
type slowFailingBody struct {
	failingBody
	delay time.Duration
}

func (b *slowFailingBody) Read(p []byte) (int, error) {
	if b.data.Len() == 0 {
		time.Sleep(b.delay)
	}
	return b.failingBody.Read(p)
}

// TestBodyFailureAfterAnswerStarted: when the upstream's answer has
// started before the client's body fails, the response is aborted (never
// ended cleanly); the status stays the one sent unless the client is gone,
// and the target is not blamed.
func TestBodyFailureAfterAnswerStarted(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		cancel bool // net/http cancels the request when its connection read fails
		status int
	}{
		{"read timeout", errTimeout, true, 200},
		{"malformed chunked", errBareLF, false, 200},
		{"client gone", errReset, true, 499},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				// Else Go's server reads the body before the header goes.
				http.NewResponseController(w).EnableFullDuplex()
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, "started")
				http.NewResponseController(w).Flush()
				io.ReadAll(r.Body)
				io.WriteString(w, "rest")
			})
			upc := &config.Upstream{Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)}}
			h, pool := newRetryProxy(t, upc, nil, up.URL)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body := &slowFailingBody{failingBody{data: strings.NewReader("abc"), err: tt.err}, 100 * time.Millisecond}
			if tt.cancel {
				body.cancel = cancel
			}
			r := httptest.NewRequestWithContext(ctx, "POST", "/orders", body)
			r.ContentLength = -1
			x := &pipeline.Exchange{ClientIP: "192.0.2.10"}
			rec, err := call(h, r, x)
			if !errors.Is(err, http.ErrAbortHandler) {
				t.Fatalf("ServeHTTP() = %v (wrote %d %q), want an aborted response", err, rec.Code, rec.Body)
			}
			var be *pipeline.BodyError
			if !errors.As(x.Err, &be) {
				t.Errorf("x.Err = %v, want the body error", x.Err)
			}
			if x.Status != tt.status {
				t.Errorf("x.Status = %d, want %d", x.Status, tt.status)
			}
			if st := pool.Targets()[0].Status(); st.State != "healthy" {
				t.Errorf("target is %s, want healthy", st.State)
			}
		})
	}
}

// failedStatus reports whether a gantry_upstream_requests_total line counts
// attempts without an answer (connect_error, timeout, error) or with a 5xx.
func failedStatus(l string) bool {
	for _, s := range []string{`status="5`, `status="connect_error"`, `status="timeout"`, `status="error"`, `status="0"`} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
