package h1

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoundTrip is one GET answered with 100 bytes by a loopback
// upstream, through this Transport and through net/http's for comparison,
// from one goroutine and from many.
func BenchmarkRoundTrip(b *testing.B) {
	payload := strings.Repeat("x", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, payload)
	}))
	defer srv.Close()

	clients := []struct {
		name string
		rt   interface {
			http.RoundTripper
			CloseIdleConnections()
		}
	}{
		{"h1", &Transport{}},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: defaultMaxIdlePerAddr, DisableCompression: true}},
	}
	for _, c := range clients {
		b.Run("client="+c.name+"/serial", func(b *testing.B) {
			defer c.rt.CloseIdleConnections()
			req := newRequest(b, "GET", srv.URL+"/v1/orders/42", "")
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				if err := roundTrip(c.rt, req, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("client="+c.name+"/parallel", func(b *testing.B) {
			defer c.rt.CloseIdleConnections()
			req := newRequest(b, "GET", srv.URL+"/v1/orders/42", "")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 512)
				for pb.Next() {
					if err := roundTrip(c.rt, req, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRoundTripTLS is BenchmarkRoundTrip over TLS 1.3 kept alive,
// HTTP/1.1 on both clients (ALPN offers only http/1.1 to a server that
// would choose h2), from one goroutine.
func BenchmarkRoundTripTLS(b *testing.B) {
	payload := strings.Repeat("x", 100)
	cert := newTestCert(b, "127.0.0.1")
	srv, _ := newTLSServer(b, cert, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, payload)
	})
	cfg := &tls.Config{RootCAs: cert.roots}
	clients := []struct {
		name string
		rt   interface {
			http.RoundTripper
			CloseIdleConnections()
		}
	}{
		{"h1", &Transport{TLSClientConfig: cfg}},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: defaultMaxIdlePerAddr, DisableCompression: true,
			TLSClientConfig: &tls.Config{RootCAs: cert.roots, NextProtos: []string{"http/1.1"}}}},
	}
	for _, c := range clients {
		b.Run("client="+c.name+"/serial", func(b *testing.B) {
			defer c.rt.CloseIdleConnections()
			req := newRequest(b, "GET", srv.URL+"/v1/orders/42", "")
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				if err := roundTrip(c.rt, req, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// roundTrip sends req and reads the 100-byte answer into buf.
func roundTrip(rt http.RoundTripper, req *http.Request, buf []byte) error {
	res, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("RoundTrip() error: %w", err)
	}
	defer res.Body.Close()
	n := 0
	for {
		m, err := res.Body.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
	}
	if n != 100 {
		return fmt.Errorf("body of %d bytes, want 100", n)
	}
	return nil
}

// BenchmarkRoundTripReuse is one GET after another on the same pooled
// connection, answered with 100 bytes: the cost of taking a connection out
// of the pool, which includes the check that it holds no unread byte.
func BenchmarkRoundTripReuse(b *testing.B) {
	payload := strings.Repeat("x", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, payload)
	}))
	defer srv.Close()
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	req := newRequest(b, "GET", srv.URL+"/v1/orders/42", "")
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		if err := roundTrip(tr, req, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbe is the check of an idle connection alone: one
// non-blocking peek that finds nothing to read.
func BenchmarkProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			drain(c)
			c.Close()
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{nc: nc, raw: nc}
	defer c.close()
	b.ReportAllocs()
	for b.Loop() {
		if !c.probe() {
			b.Fatal("probe() = false on an idle connection")
		}
	}
}
