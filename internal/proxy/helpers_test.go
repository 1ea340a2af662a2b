package proxy

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// seen is what the echo upstream reports about the request it received.
type seen struct {
	Method     string
	RequestURI string
	Host       string
	Proto      string
	Header     http.Header
	Body       string
}

// newUpstream starts an upstream server that is closed when the test ends.
func newUpstream(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return s
}

// newUpstreamTLS starts an upstream server over TLS, with HTTP/2 enabled
// (ALPN prefers h2), closed when the test ends; tlsTransports trusts it.
func newUpstreamTLS(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// tlsTransports returns a registry whose transports trust the
// certificate of newUpstreamTLS's servers (httptest's own).
func tlsTransports(tb testing.TB) *Transports {
	tb.Helper()
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	trs := NewTransports()
	trs.roots = roots
	tb.Cleanup(trs.CloseIdle)
	return trs
}

// echoUpstream answers every request with a JSON description of it.
func echoUpstream(tb testing.TB) *httptest.Server {
	return newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Server", "echo/1.0")
		json.NewEncoder(w).Encode(seen{r.Method, r.RequestURI, r.Host, r.Proto, r.Header, string(body)})
	})
}

// newProxy builds a handler for the given target URLs (all weight 1).
func newProxy(tb testing.TB, up *config.Upstream, rt *config.Route, opts Options, urls ...string) pipeline.Handler {
	tb.Helper()
	if up == nil {
		up = &config.Upstream{}
	}
	for _, u := range urls {
		up.Targets = append(up.Targets, &config.Target{URL: u})
	}
	pool, err := upstream.NewPool("users", up, nil)
	if err != nil {
		tb.Fatalf("NewPool() error: %v", err)
	}
	h, err := New(pool, up, rt, opts)
	if err != nil {
		tb.Fatalf("New() error: %v", err)
	}
	return h
}

// newRecorder returns a recorder whose Code stays 0 until a status is
// written, so tests can tell "nothing written" from 200.
func newRecorder() *httptest.ResponseRecorder {
	//lint:ignore SA1019 NewRecorder's Code starts at 200; this one must start at 0
	return &httptest.ResponseRecorder{HeaderMap: make(http.Header), Body: new(bytes.Buffer)}
}

// call runs h directly for r with x in its context (x.Path defaults to the
// request path), and records the outcome in x as package server does.
func call(h pipeline.Handler, r *http.Request, x *pipeline.Exchange) (*httptest.ResponseRecorder, error) {
	if x.Path == "" {
		x.Path = r.URL.Path
	}
	rec := newRecorder()
	err := serveGateway(h, rec, r, x)
	return rec, err
}

// serveGateway runs h for r with x in its context and records x.Status and
// x.Err as package server does, from the returned error and the status
// sent (pipeline.Outcome): the proxy writes neither.
func serveGateway(h pipeline.Handler, w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	gw := &gatewayWriter{ResponseWriter: w}
	err := h.ServeHTTP(gw, r.WithContext(pipeline.WithExchange(r.Context(), x)))
	x.Status, x.Err = pipeline.Outcome(gw.status, err)
	return err
}

// gatewayWriter records the final status sent to the client, as package
// server's recorder does.
type gatewayWriter struct {
	http.ResponseWriter
	status int
}

func (w *gatewayWriter) WriteHeader(code int) {
	// 1xx answers come from the transport's goroutine and are not final:
	// they must not touch status.
	if (code >= 200 || code == http.StatusSwitchingProtocols) && w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gatewayWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *gatewayWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *gatewayWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

func (w *gatewayWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func decodeSeen(tb testing.TB, body string) seen {
	tb.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		tb.Fatalf("decoding upstream echo %q: %v", body, err)
	}
	return s
}

// startGateway serves h the way package server does, reduced to what the
// proxy relies on: an Exchange in the context, HTTPError statuses written
// without a body (except 499), and aborted responses aborted. Each finished
// Exchange is sent on the returned channel.
func startGateway(tb testing.TB, h pipeline.Handler) (*httptest.Server, <-chan *pipeline.Exchange) {
	tb.Helper()
	done := make(chan *pipeline.Exchange, 64)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &pipeline.Exchange{ID: "gw-req-1", Path: r.URL.Path, TLS: r.TLS != nil, ClientIP: forward.ClientIP(r, nil)}
		err := serveGateway(h, w, r, x)
		select {
		case done <- x:
		default:
		}
		var he *pipeline.HTTPError
		switch {
		case errors.As(err, &he) && he.Status != pipeline.StatusClientClosed:
			w.WriteHeader(he.Status)
		case errors.Is(err, http.ErrAbortHandler) && x.Status != pipeline.StatusClientClosed:
			panic(http.ErrAbortHandler)
		}
	}))
	tb.Cleanup(s.Close)
	return s, done
}

func mustPool(tb testing.TB, up *config.Upstream) *upstream.Pool {
	tb.Helper()
	p, err := upstream.NewPool("users", up, nil)
	if err != nil {
		tb.Fatalf("NewPool() error: %v", err)
	}
	return p
}
