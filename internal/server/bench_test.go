package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// benchAnswer is a typical small JSON answer (~100 bytes).
var benchAnswer = []byte(`{"id":"ord_7f3a9c","status":"shipped","items":3,"total":"49.90","currency":"EUR","eta":"2026-11-04"}`)

func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(benchAnswer)
	}))
	b.Cleanup(up.Close)
	return up
}

func benchServer(b *testing.B, upstreamURL string) *Server {
	b.Helper()
	s, err := New(Options{Config: parseConfig(b, gatewayConfig(upstreamURL, catchAll))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	return s
}

// benchClient keeps connections alive across iterations, as a busy client
// (or a load balancer in front of the gateway) does.
func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func getOK(b *testing.B, c *http.Client, url string) {
	res, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s = %d", url, res.StatusCode)
	}
}

// BenchmarkGateway measures one full request through the gateway:
// handler calls Server.ServeHTTP directly (the gateway's own allocations
// plus the upstream round trip), http goes over loopback like a client,
// and direct is the upstream alone, the baseline to subtract.
func BenchmarkGateway(b *testing.B) {
	up := benchUpstream(b)
	s := benchServer(b, up.URL)
	const path = "/orders/ord_7f3a9c"

	b.Run("direct", func(b *testing.B) {
		c := benchClient(b)
		b.ReportAllocs()
		for b.Loop() {
			getOK(b, c, up.URL+path)
		}
	})
	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.Run("handler-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			for pb.Next() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
	})
	gw := httptest.NewServer(s)
	b.Cleanup(gw.Close)
	b.Run("http", func(b *testing.B) {
		c := benchClient(b)
		b.ReportAllocs()
		for b.Loop() {
			getOK(b, c, gw.URL+path)
		}
	})
	b.Run("http-parallel", func(b *testing.B) {
		c := benchClient(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := c.Get(gw.URL + path)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	})
}

func BenchmarkRequestID(b *testing.B) {
	ids := newIDSource()
	b.Run("kept", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Request-ID", "5b0e1c2a-7d4f-4e8a-9f3b-2c6d8e0a1b4c")
		b.ReportAllocs()
		for b.Loop() {
			requestID(r, ids)
		}
	})
	b.Run("generated", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		b.ReportAllocs()
		for b.Loop() {
			requestID(r, ids)
		}
	})
	b.Run("generated-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for pb.Next() {
				requestID(r, ids)
			}
		})
	})
}

func BenchmarkHostOf(b *testing.B) {
	tests := []struct{ name, host string }{
		{"name", "api.example.com"},
		{"name-port", "api.example.com:8443"},
		{"upper", "API.Example.com"},
		{"ipv6-port", "[2001:db8::1]:443"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			r := &http.Request{Host: tt.host}
			b.ReportAllocs()
			for b.Loop() {
				hostOf(r)
			}
		})
	}
}

// BenchmarkAdmission is the cost max_concurrent_requests adds to every
// request: nothing when off, one compare-and-swap and one add when on.
func BenchmarkAdmission(b *testing.B) {
	for _, max := range []int64{0, 4096} {
		a := &admission{max: max}
		b.Run(fmt.Sprintf("max=%d", max), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if a.acquire() {
						a.release()
					}
				}
			})
		})
	}
}

// BenchmarkRPCKind is what every request pays to learn whether it is a gRPC
// call, for the error renderer and the recorder.
func BenchmarkRPCKind(b *testing.B) {
	for _, ct := range []string{"", "application/json", "application/grpc+proto"} {
		b.Run("content-type="+ct, func(b *testing.B) {
			h := http.Header{}
			if ct != "" {
				h.Set("Content-Type", ct)
			}
			b.ReportAllocs()
			for b.Loop() {
				rpcKindOf(h)
			}
		})
	}
}

// BenchmarkGatewayTracing is BenchmarkGateway's handler case with tracing
// off, and on at sample ratios 1 and 0.01, exporting over OTLP/HTTP to a
// loopback collector that discards what it gets. Spans are exported by the
// batch processor's goroutine: what the request path pays is making them.
func BenchmarkGatewayTracing(b *testing.B) {
	up := benchUpstream(b)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(collector.Close)
	const path = "/orders/ord_7f3a9c"
	for _, bc := range []struct {
		name  string
		ratio float64
		on    bool
	}{{"off", 0, false}, {"ratio=1", 1, true}, {"ratio=0.01", 0.01, true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := parseConfig(b, gatewayConfig(up.URL, catchAll))
			var tr *telemetry.Tracing
			if bc.on {
				var err error
				tr, err = telemetry.NewTracing(b.Context(), telemetry.TracingOptions{Config: &config.Tracing{
					Exporter: "otlp", Endpoint: collector.URL, SampleRatio: &bc.ratio}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { tr.Shutdown(context.Background()) })
			}
			s, err := New(Options{Config: cfg, Tracing: tr})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Shutdown(context.Background()) })
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkCertStoreGet is the certificate choice of one TLS handshake:
// certs=N certificates, the SNI naming the last (the longest scan), within
// the check interval (no stat) and with a stat on every call.
func BenchmarkCertStoreGet(b *testing.B) {
	for _, n := range []int{1, 10} {
		dir := b.TempDir()
		day := time.Now().Add(24 * time.Hour)
		var pairs []config.CertPair
		for i := range n {
			pairs = append(pairs, writeCertPair(b, dir, fmt.Sprint("c", i), "c", day, fmt.Sprintf("api%d.example.test", i)))
		}
		st, _, ps := planTLS(&config.TLS{Certificates: pairs}, slog.New(slog.DiscardHandler), time.Now())
		if ps != nil {
			b.Fatal(ps)
		}
		hello := &tls.ClientHelloInfo{ServerName: fmt.Sprintf("api%d.example.test", n-1)}
		b.Run(fmt.Sprintf("certs=%d/cached", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.certs.get(hello)
			}
		})
		b.Run(fmt.Sprintf("certs=%d/stat", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.certs.recheck()
				st.certs.get(hello)
			}
		})
	}
}

// BenchmarkCacheHit compares one request served from the response cache
// (hit) with the same request relayed by the plain proxy route (proxy),
// both through Server.ServeHTTP; direct is the upstream alone over
// loopback, which the proxy figure includes and a hit never pays.
func BenchmarkCacheHit(b *testing.B) {
	up := benchUpstream(b)
	plain := benchServer(b, up.URL)
	s, err := New(Options{Config: parseConfig(b, gatewayConfig(up.URL, catchAll+"    cache: {ttl: 1h}\n"))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	const path = "/orders/ord_7f3a9c"
	serve := func(b *testing.B, s *Server, wantCache string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != wantCache {
				b.Fatalf("status %d X-Cache %q, want 200 %q", rec.Code, rec.Header().Get("X-Cache"), wantCache)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		c := benchClient(b)
		b.ReportAllocs()
		for b.Loop() {
			getOK(b, c, up.URL+path)
		}
	})
	b.Run("proxy", func(b *testing.B) { serve(b, plain, "") })
	// The first request stores the answer.
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	b.Run("hit", func(b *testing.B) { serve(b, s, "HIT") })
}
