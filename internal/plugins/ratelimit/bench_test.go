package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// discard is a ResponseWriter that keeps one header map across requests.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

var ok = pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })

// BenchmarkMiddleware measures what the plugin adds to an admitted
// request: a route limit by IP, and a route limit by consumer plus the
// plan's limit and quota. "none" is the bare handler for comparison.
func BenchmarkMiddleware(b *testing.B) {
	plans := map[string]*config.Plan{"gold": {
		RateLimit: &config.RateLimit{Requests: 1 << 30, Per: config.Duration(time.Second), Burst: 1 << 30},
		Quota:     &config.Quota{Requests: 1 << 60, Per: "month"},
	}}
	route := func(key string) *config.RateLimit {
		return &config.RateLimit{Requests: 1 << 30, Per: config.Duration(time.Second), Burst: 1 << 30, Key: key}
	}
	tests := []struct {
		name  string
		limit *config.RateLimit
		plans map[string]*config.Plan
		x     pipeline.Exchange
	}{
		{"none", nil, nil, pipeline.Exchange{ClientIP: "203.0.113.1"}},
		{"ip", route("ip"), nil, pipeline.Exchange{ClientIP: "203.0.113.1"}},
		{"consumer+plan+quota", route("consumer"), plans, pipeline.Exchange{ClientIP: "203.0.113.1", Consumer: &pipeline.Consumer{ID: "acme", Plan: "gold"}}},
	}
	for _, tt := range tests {
		for _, parallel := range []bool{false, true} {
			name := tt.name
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				m := counter.NewMemory(counter.MemoryOptions{})
				defer m.Close()
				h := pipeline.Handler(ok)
				if tt.limit != nil {
					mw, err := New(Config{Counter: m, Route: "orders", Limit: tt.limit, Plans: tt.plans})
					if err != nil {
						b.Fatal(err)
					}
					h = mw(ok)
				}
				serve := func(w *discard, r *http.Request) {
					clear(w.h)
					if err := h.ServeHTTP(w, r); err != nil {
						b.Fatal(err)
					}
				}
				newReq := func() *http.Request {
					x := tt.x
					r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
					return r.WithContext(pipeline.WithExchange(r.Context(), &x))
				}
				b.ReportAllocs()
				if !parallel {
					w, r := &discard{h: http.Header{}}, newReq()
					for b.Loop() {
						serve(w, r)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					w, r := &discard{h: http.Header{}}, newReq()
					for pb.Next() {
						serve(w, r)
					}
				})
			})
		}
	}
}
