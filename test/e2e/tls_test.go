package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// selfSigned writes a fresh self-signed ECDSA P-256 certificate for
// 127.0.0.1 and localhost into a temp dir and returns the PEM file paths
// and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	c := testkit.NewCert(t, "localhost", "127.0.0.1", "::1")
	certFile, keyFile = c.Files(t)
	return certFile, keyFile, c.Roots
}

// tlsGateway starts gantry serving HTTPS with a fresh certificate in front of
// an echo upstream.
func tlsGateway(t *testing.T) (*testkit.Gantry, *testkit.Echo, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, roots := selfSigned(t)
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}", certFile, keyFile)))
	if !strings.HasPrefix(g.URL, "https://") {
		t.Fatalf("gateway URL %q is not https", g.URL)
	}
	return g, e, roots
}

func TestTLS(t *testing.T) {
	g, e, roots := tlsGateway(t)

	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	h1 := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		// A non-nil empty map turns HTTP/2 off: no "h2" in ALPN.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	t.Cleanup(h2.CloseIdleConnections)
	t.Cleanup(h1.CloseIdleConnections)
	tests := []struct {
		name      string
		transport *http.Transport
		proto     int
	}{
		{"HTTP/2", h2, 2},
		{"HTTP/1.1", h1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			c := &http.Client{Transport: tt.transport, Timeout: 10 * time.Second}
			// Twice: the second request reuses the connection.
			for i := range 2 {
				resp, err := c.Get(g.URL + "/orders/7?page=2")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
				}
				if resp.ProtoMajor != tt.proto {
					t.Fatalf("request %d: ProtoMajor = %d, want %d", i, resp.ProtoMajor, tt.proto)
				}
				if resp.Header.Get("X-Request-ID") == "" {
					t.Errorf("request %d: no X-Request-ID", i)
				}
				s := testkit.DecodeSeen(t, body)
				if s.URI != "/orders/7?page=2" {
					t.Errorf("request %d: upstream request target %q", i, s.URI)
				}
				if got := http.Header(s.Header).Get("X-Forwarded-Proto"); got != "https" {
					t.Errorf("request %d: upstream saw X-Forwarded-Proto %q, want https", i, got)
				}
			}
			if n := e.Count(); n != 2 {
				t.Fatalf("upstream saw %d requests, want 2", n)
			}
		})
	}
}

func TestTLSSmuggling(t *testing.T) {
	g, e, roots := tlsGateway(t)
	tests := []struct {
		name    string
		payload string
	}{
		{"CL and TE", "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE and CL", "POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			c, err := tls.Dial("tcp", g.Addr, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Fatalf("negotiated %q, want http/1.1", p)
			}
			resps, closed := exchangeRaw(t, c, tt.payload)
			if len(resps) != 1 || resps[0].StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d responses (%v), want one 400", len(resps), statusOf(resps))
			}
			if !closed {
				t.Fatal("connection left open after a smuggling attempt")
			}
			if n := e.Count(); n != 0 {
				t.Fatalf("upstream saw %d requests: %+v", n, e.Requests())
			}
		})
	}
}

func TestTLSPortRefusesPlainHTTP(t *testing.T) {
	g, e, roots := tlsGateway(t)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + g.Addr + "/orders/7")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Answering "use HTTPS" with a 400 is also a refusal; anything
		// that looks like a served request is not.
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %d %s", resp.StatusCode, body)
		}
	}
	if n := e.Count(); n != 0 {
		t.Fatalf("upstream saw %d requests from plain HTTP: %+v", n, e.Requests())
	}
	// The listener still serves TLS afterwards.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	c.Transport = tr
	resp, err = c.Get(g.URL + "/orders/7")
	if err != nil {
		t.Fatalf("HTTPS after a plain HTTP attempt: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || e.Count() != 1 {
		t.Fatalf("HTTPS after a plain HTTP attempt: %d, upstream saw %d", resp.StatusCode, e.Count())
	}
}

// exchangeRaw writes payload on c and returns every response Go can parse
// from what comes back, and whether the gateway closed the connection.
func exchangeRaw(t *testing.T, c net.Conn, payload string) (resps []*http.Response, closed bool) {
	t.Helper()
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return resps, !isTimeout(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
		if resp.Close {
			_, err := br.ReadByte()
			return resps, err != nil && !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
