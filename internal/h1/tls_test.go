package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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

// testCert is a self-signed ECDSA certificate for hosts (names or IP
// addresses), and a pool that trusts it.
type testCert struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

func newTestCert(tb testing.TB, hosts ...string) testCert {
	c := testkit.NewCert(tb, hosts...)
	return testCert{cert: c.TLS, roots: c.Roots}
}

// newTLSServer starts an httptest TLS server with HTTP/2 enabled (ALPN
// offers h2 first), serving h with cert, counting its connections, and
// recording the SNI of each handshake.
func newTLSServer(tb testing.TB, cert testCert, h http.HandlerFunc) (*countingServer, *sniLog) {
	tb.Helper()
	s := &countingServer{kick: make(chan struct{}, 1)}
	s.Server = httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	sni := &sniLog{}
	s.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert.cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sni.add(hello.ServerName)
			return nil, nil
		},
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s, sni
}

type sniLog struct {
	mu    sync.Mutex
	names []string
}

func (l *sniLog) add(n string) { l.mu.Lock(); l.names = append(l.names, n); l.mu.Unlock() }
func (l *sniLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.names...)
}

func TestTLSRefusedWithoutConfig(t *testing.T) {
	tr := newTransport(t, nil)
	req := newRequest(t, "GET", "https://127.0.0.1:1/", "")
	if tr.Supports(req) {
		t.Fatal("Supports(https) = true without TLSClientConfig")
	}
	if _, err := tr.RoundTrip(req); err != ErrUnsupported {
		t.Fatalf("RoundTrip(https) error = %v, want ErrUnsupported", err)
	}
}

// TestTLSReuseAndALPN: requests share one connection, and a server that
// prefers h2 gets HTTP/1.1 because nothing else is offered.
func TestTLSReuseAndALPN(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	srv, _ := newTLSServer(t, cert, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.Method)
	})
	tr := newTransport(t, &Transport{TLSClientConfig: &tls.Config{RootCAs: cert.roots}})
	for i, method := range []string{"GET", "POST", "GET", "HEAD", "PUT"} {
		body := ""
		if method == "POST" || method == "PUT" {
			body = "payload"
		}
		code, got := fetch(t, tr, newRequest(t, method, srv.URL+"/x", body))
		want := "HTTP/1.1 " + method
		if method == "HEAD" {
			want = ""
		}
		if code != 200 || got != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, code, got, want)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1 (reused)", n)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

func TestTLSServerName(t *testing.T) {
	cert := newTestCert(t, "localhost", "api.internal")
	tests := []struct {
		name       string
		serverName string
		host       string // the request's Host header, "" for the URL's
		wantSNI    string
	}{
		{name: "the URL's host", wantSNI: "localhost"},
		{name: "not the Host header", host: "front.example", wantSNI: "localhost"},
		{name: "the configured name", serverName: "api.internal", wantSNI: "api.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, sni := newTLSServer(t, cert, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			tr := newTransport(t, &Transport{TLSClientConfig: &tls.Config{RootCAs: cert.roots, ServerName: tt.serverName}})
			req := newRequest(t, "GET", "https://localhost:"+port+"/", "")
			req.Host = tt.host
			code, got := fetch(t, tr, req)
			wantHost := tt.host
			if wantHost == "" {
				wantHost = "localhost:" + port
			}
			if code != 200 || got != wantHost {
				t.Errorf("answer %d %q, want 200 %q", code, got, wantHost)
			}
			if names := sni.get(); len(names) != 1 || names[0] != tt.wantSNI {
				t.Errorf("SNI %q, want [%q]", names, tt.wantSNI)
			}
		})
	}
}

// TestTLSConfigNotModified: the caller's configuration is cloned.
func TestTLSConfigNotModified(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	srv, _ := newTLSServer(t, cert, func(w http.ResponseWriter, r *http.Request) {})
	cfg := &tls.Config{RootCAs: cert.roots, NextProtos: []string{"h2", "http/1.1"}}
	tr := newTransport(t, &Transport{TLSClientConfig: cfg})
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if cfg.ServerName != "" || len(cfg.NextProtos) != 2 || cfg.ClientSessionCache != nil {
		t.Errorf("TLSClientConfig modified: ServerName %q NextProtos %q cache %v", cfg.ServerName, cfg.NextProtos, cfg.ClientSessionCache)
	}
}

// holdConn buffers what is written while hold is set, so that several TLS
// records leave in one segment on flush.
type holdConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  bytes.Buffer
}

func (c *holdConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *holdConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	// crypto/tls's CloseWrite leaves an expired write deadline.
	_ = c.Conn.SetWriteDeadline(time.Time{})
	_, err := c.Conn.Write(c.buf.Bytes())
	c.buf.Reset()
	return err
}

// TestTLSIdleConnectionNotReused: after the first answer the server sends
// something on its connection, keeping the TCP connection open; a POST
// (never replayed) must go on a new connection, so the first one must be
// found unusable before it is reused.
func TestTLSIdleConnectionNotReused(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	const stale = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"
	tests := []struct {
		name string
		// after runs on the server once the first answer was written
		// (through hc while it holds, when glued).
		after func(tc *tls.Conn) error
		glued bool
	}{
		{name: "close_notify while idle", after: func(tc *tls.Conn) error { return tc.CloseWrite() }},
		{name: "close_notify with the answer", after: func(tc *tls.Conn) error { return tc.CloseWrite() }, glued: true},
		{name: "an answer nobody asked for while idle", after: func(tc *tls.Conn) error {
			_, err := io.WriteString(tc, stale)
			return err
		}},
		{name: "an answer nobody asked for with the answer", after: func(tc *tls.Conn) error {
			_, err := io.WriteString(tc, stale)
			return err
		}, glued: true},
	}
	cert := newTestCert(t, "127.0.0.1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var conns atomic.Int32
			sent, answered := make(chan struct{}, 4), make(chan struct{})
			var wg sync.WaitGroup
			t.Cleanup(func() { ln.Close(); wg.Wait() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					n := conns.Add(1)
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close()
						hc := &holdConn{Conn: c}
						tc := tls.Server(hc, &tls.Config{Certificates: []tls.Certificate{cert.cert}})
						br := bufio.NewReader(tc)
						for {
							if _, err := readRequest(br); err != nil {
								return
							}
							if n > 1 {
								io.WriteString(tc, ok)
								continue
							}
							hc.mu.Lock()
							hc.hold = tt.glued
							hc.mu.Unlock()
							io.WriteString(tc, ok)
							if !tt.glued {
								// Idle: the client has read the answer.
								<-answered
							}
							if err := tt.after(tc); err != nil {
								t.Errorf("server: %v", err)
							}
							hc.flush()
							sent <- struct{}{}
							// Keep the TCP connection open, reading what
							// comes (a reused connection's request).
							io.Copy(io.Discard, tc)
							io.Copy(io.Discard, c)
							return
						}
					}()
				}
			}()
			tr := newTransport(t, &Transport{TLSClientConfig: &tls.Config{RootCAs: cert.roots}})
			url := "https://" + ln.Addr().String() + "/"
			if code, body := fetch(t, tr, newRequest(t, "POST", url, "a")); code != 200 || body != "ok" {
				t.Fatalf("first answer %d %q", code, body)
			}
			close(answered)
			recv(t, sent, "the server's extra bytes")
			time.Sleep(50 * time.Millisecond) // loopback delivery
			res, err := tr.Send(context.Background(), newRequest(t, "POST", url, "b"), nil)
			if err != nil {
				t.Fatalf("second POST error: %v (the stale connection was reused)", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("second answer %d %q", res.StatusCode, b)
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("server saw %d connections, want 2", n)
			}
		})
	}
}

// TestTLSTimeouts: a handshake that never ends fails within the dial
// timeout as a handshake timeout (not a response timeout); an answer that
// never comes fails within the response header timeout; a canceled request
// returns at once.
func TestTLSTimeouts(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	silentTCP := newRawServer(t, func(c net.Conn, br *bufio.Reader) { drain(c) })
	silentTLS := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.cert}})
		if tc.Handshake() == nil {
			drain(tc)
		}
	})
	tests := []struct {
		name   string
		url    string
		cancel time.Duration // cancel the request after, 0 for never
		check  func(error) bool
	}{
		{name: "handshake", url: "https://" + silentTCP.ln.Addr().String(), check: func(err error) bool {
			var ns *NotSentError
			return errors.As(err, &ns) && errors.Is(err, handshakeTimeoutError{}) && strings.Contains(err.Error(), "TLS handshake timeout")
		}},
		{name: "response header", url: "https://" + silentTLS.ln.Addr().String(), check: func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{name: "canceled", url: "https://" + silentTLS.ln.Addr().String(), cancel: 50 * time.Millisecond, check: func(err error) bool {
			return errors.Is(err, context.Canceled)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTransport(t, &Transport{DialTimeout: 200 * time.Millisecond, ResponseHeaderTimeout: 300 * time.Millisecond,
				TLSClientConfig: &tls.Config{RootCAs: cert.roots}})
			ctx := context.Background()
			if tt.cancel > 0 {
				tr.ResponseHeaderTimeout = 0
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			_, err := tr.Send(ctx, newRequest(t, "GET", tt.url, ""), nil)
			if err == nil || !tt.check(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("failed after %v", d)
			}
		})
	}
}

// TestTLSVerificationFails: a certificate the roots do not trust, or for
// another name, fails the request before anything was sent.
func TestTLSVerificationFails(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	other := newTestCert(t, "127.0.0.1")
	srv, _ := newTLSServer(t, cert, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name string
		cfg  *tls.Config
		want any
	}{
		{name: "unknown authority", cfg: &tls.Config{RootCAs: other.roots}, want: new(x509.UnknownAuthorityError)},
		{name: "wrong name", cfg: &tls.Config{RootCAs: cert.roots, ServerName: "api.internal"}, want: new(x509.HostnameError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTransport(t, &Transport{TLSClientConfig: tt.cfg})
			_, err := tr.Send(context.Background(), newRequest(t, "POST", srv.URL, "x"), nil)
			var ns *NotSentError
			var cve *tls.CertificateVerificationError
			if !errors.As(err, &ns) || !errors.As(err, &cve) || !errors.As(err, tt.want) {
				t.Fatalf("error %v (%T), want a NotSentError around a %T", err, err, tt.want)
			}
		})
	}
}
