package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestTLSUpstreamProtocol: an https:// upstream whose server prefers h2,
// trusted through SSL_CERT_FILE. Declared protocol http1, it is spoken to
// in HTTP/1.1 over one kept-alive connection; left to ALPN, in HTTP/2, as
// before; a certificate nobody trusts is a 502 either way.
func TestTLSUpstreamProtocol(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)

	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  h1: {protocol: http1, targets: [{url: %q}]}
  auto: {targets: [{url: %q}]}
  bad: {protocol: http1, targets: [{url: %q}]}
  badauto: {targets: [{url: %q}]}
routes:
  - {name: h1, match: {path_prefix: /h1/}, upstream: h1}
  - {name: auto, match: {path_prefix: /auto/}, upstream: auto}
  - {name: bad, match: {path_prefix: /bad/}, upstream: bad}
  - {name: badauto, match: {path_prefix: /badauto/}, upstream: badauto}
`, srv.URL, srv.URL, untrusted.URL, untrusted.URL)), "SSL_CERT_FILE="+certFile)

	for i := range 5 {
		method, body, want := "GET", "", "GET /h1/x "
		if i%2 == 1 {
			method, body, want = "POST", "payload", "POST /h1/x payload"
		}
		r := do(t, method, g.URL+"/h1/x", body)
		if r.Status != 200 || string(r.Body) != want || r.Header.Get("X-Proto") != "HTTP/1.1" {
			t.Fatalf("%s /h1/x: %d %s %q, want 200 HTTP/1.1 %q", method, r.Status, r.Header.Get("X-Proto"), r.Body, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections for 5 requests, want 1 (kept alive)", n)
	}
	if r := get(t, g.URL+"/auto/x"); r.Status != 200 || r.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Errorf("GET /auto/x: %d %s, want 200 HTTP/2.0", r.Status, r.Header.Get("X-Proto"))
	}
	var msgs []string
	for _, path := range []string{"/bad/x", "/badauto/x"} {
		r := get(t, g.URL+path)
		if r.Status != http.StatusBadGateway {
			t.Fatalf("GET %s: %d %q, want 502", path, r.Status, r.Body)
		}
		e := r.gwError(t)
		msgs = append(msgs, e.Error+": "+e.Message)
	}
	if msgs[0] != msgs[1] || !strings.Contains(msgs[0], "TLS handshake") {
		t.Errorf("untrusted certificate answers %q, want the same TLS handshake failure", msgs)
	}
}
