package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	// slow holds the response until the client gives up.
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	// reading reads the whole body before answering.
	reading := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	})
	// garbage answers with something that is not HTTP.
	garbage := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
		c.Close()
	})
	// tls speaks TLS with a certificate the gateway does not trust.
	tlsUp := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsUp.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsUp.StartTLS()
	t.Cleanup(tlsUp.Close)

	tests := []struct {
		name     string
		target   string
		timeouts config.Timeouts
		body     func(w http.ResponseWriter) io.ReadCloser
		ctx      func() (context.Context, context.CancelFunc)
		down     bool
		want     int
		wantCode string
	}{
		{name: "connection refused", target: deadURL(t), want: 502, wantCode: pipeline.CodeBadGateway},
		{name: "not http", target: garbage.URL, want: 502, wantCode: pipeline.CodeBadGateway},
		{name: "untrusted tls", target: tlsUp.URL, want: 502, wantCode: pipeline.CodeBadGateway},
		{name: "response timeout", target: slow.URL, timeouts: config.Timeouts{Response: config.Duration(100 * time.Millisecond)}, want: 504, wantCode: pipeline.CodeUpstreamTimeout},
		{
			name: "context deadline", target: slow.URL, want: 504, wantCode: pipeline.CodeUpstreamTimeout,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
		},
		{
			name: "client canceled", target: slow.URL, want: pipeline.StatusClientClosed, wantCode: pipeline.CodeClientClosed,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
		},
		{
			name: "body over the limit", target: reading.URL, want: 413, wantCode: pipeline.CodeBodyTooLarge,
			body: func(w http.ResponseWriter) io.ReadCloser {
				return http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<20))), 1024)
			},
		},
		{name: "no healthy target", target: slow.URL, down: true, want: 503, wantCode: pipeline.CodeNoHealthyUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &config.Upstream{Timeouts: tt.timeouts, Targets: []*config.Target{{URL: tt.target}}}
			pool := mustPool(t, up)
			if tt.down {
				pool.Targets()[0].SetHealthy(false)
			}
			h, err := New(pool, up, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/orders", nil)
			if tt.ctx != nil {
				ctx, cancel := tt.ctx()
				defer cancel()
				r = r.WithContext(ctx)
			}
			rec := newRecorder()
			if tt.body != nil {
				r.Body = tt.body(rec)
				r.ContentLength = -1
			}
			x := &pipeline.Exchange{Path: "/orders"}
			start := time.Now()
			err = serveGateway(h, rec, r, x)
			if time.Since(start) > 3*time.Second {
				t.Errorf("ServeHTTP() took %v", time.Since(start))
			}
			var he *pipeline.HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("ServeHTTP() error = %v, want an HTTPError", err)
			}
			if he.Status != tt.want || he.Code != tt.wantCode {
				t.Errorf("ServeHTTP() = %d %s (%v), want %d %s", he.Status, he.Code, he.Err, tt.want, tt.wantCode)
			}
			if rec.Code != 0 || rec.Body.Len() != 0 {
				t.Errorf("handler wrote %d %q; errors must be left to the server", rec.Code, rec.Body.String())
			}
			if strings.Contains(he.Message, "127.0.0.1") {
				t.Errorf("client message %q leaks the upstream address", he.Message)
			}
			if x.Upstream != "users" || x.Err == nil {
				t.Errorf("exchange upstream %q err %v, want users and an error", x.Upstream, x.Err)
			}
			if tt.want == pipeline.StatusClientClosed && x.Status != tt.want {
				t.Errorf("exchange status = %d, want %d", x.Status, tt.want)
			}
			if !tt.down && (x.Attempts != 1 || x.Target != tt.target) {
				t.Errorf("exchange attempts %d target %q, want 1 and %q", x.Attempts, x.Target, tt.target)
			}
		})
	}
}

// resetAfter answers 200 with Content-Length 100, sends 10 bytes and closes.
func resetAfter(w http.ResponseWriter, r *http.Request) {
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
	brw.Flush()
}

func TestAbortAfterHeaders(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, resetAfter)
	h := newProxy(t, nil, nil, Options{}, up.URL)

	t.Run("handler", func(t *testing.T) {
		t.Parallel()
		x := &pipeline.Exchange{}
		rec, err := call(h, httptest.NewRequest("GET", "/download", nil), x)
		if !errors.Is(err, http.ErrAbortHandler) {
			t.Fatalf("ServeHTTP() error = %v, want one wrapping http.ErrAbortHandler", err)
		}
		var he *pipeline.HTTPError
		if errors.As(err, &he) {
			t.Errorf("ServeHTTP() returned an HTTPError after the header was sent: %v", he)
		}
		if rec.Code != 200 || rec.Body.String() != "0123456789" {
			t.Errorf("client got %d %q, want 200 and the 10 bytes", rec.Code, rec.Body.String())
		}
		if x.Err == nil || x.Status != 200 {
			t.Errorf("exchange err %v status %d, want an error and 200", x.Err, x.Status)
		}
	})
	t.Run("client sees a truncated body", func(t *testing.T) {
		t.Parallel()
		gw, done := startGateway(t, h)
		// The 10 bytes may still sit in the server's buffer when the
		// connection is aborted, so the client fails on either the header
		// or the body; it must never see a complete response.
		res, err := http.Get(gw.URL + "/download")
		if err == nil {
			defer res.Body.Close()
			if b, err := io.ReadAll(res.Body); err == nil {
				t.Fatalf("reading the body succeeded with %q; a truncated body must not look whole", b)
			}
		}
		if x := <-done; x.Err == nil {
			t.Errorf("exchange has no error")
		}
	})
}

// Client gone in the middle of a streamed response: recorded as 499, not
// aborted twice.
func TestClientGoneMidStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-release:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	defer close(release)
	gw, done := startGateway(t, newProxy(t, nil, nil, Options{}, up.URL))
	res, err := http.Get(gw.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: tick\n" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	res.Body.Close()
	select {
	case x := <-done:
		if x.Status != pipeline.StatusClientClosed || x.Err == nil {
			t.Errorf("exchange status %d err %v, want 499 and an error", x.Status, x.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not notice the client left")
	}
}
