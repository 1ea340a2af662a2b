package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// discardWriter is a reusable ResponseWriter for benchmarks.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkProxy measures one request through the handler to a local
// keep-alive upstream: the gateway's cost plus one loopback round trip.
func BenchmarkProxy(b *testing.B) {
	body := []byte(`{"id":42,"name":"Ada Lovelace"}`)
	up := newUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	rt := &config.Route{
		RequestHeaders:  &config.HeaderRules{Set: map[string]string{"X-Gateway": "gantry"}},
		ResponseHeaders: &config.HeaderRules{Remove: []string{"Server"}},
	}
	h := newProxy(b, nil, rt, Options{}, up.URL)
	r := httptest.NewRequest("GET", "/users/42?expand=orders", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	w := &discardWriter{h: make(http.Header)}
	x := &pipeline.Exchange{ID: "req-bench", Path: "/users/42"}
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	b.Run("proxy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			if err := h.ServeHTTP(w, r); err != nil || w.code != http.StatusOK {
				b.Fatalf("ServeHTTP() = %d, %v", w.code, err)
			}
		}
	})
	// direct is the same round trip without the gateway, the baseline the
	// proxy's overhead is read against.
	b.Run("direct", func(b *testing.B) {
		c := &http.Client{Transport: NewTransports().Get(0, 0)}
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Get(up.URL + "/users/42?expand=orders")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

func BenchmarkClientIP(b *testing.B) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, remote string
	}{
		{"untrusted", "203.0.113.9:1234"},
		{"trusted", "10.0.0.5:1234"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			r.Header.Set("X-Forwarded-For", "198.51.100.7, 10.3.3.3")
			b.ReportAllocs()
			for b.Loop() {
				ClientIP(r, trusted)
			}
		})
	}
}

func BenchmarkBufferPool(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buf := buffers.Get()
		buffers.Put(buf)
	}
}
