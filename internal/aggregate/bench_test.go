package aggregate

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
)

// discardWriter is a reusable ResponseWriter for benchmarks.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

const (
	benchUser    = `{"id":"u-42","name":"Ada Lovelace","email":"ada@example.com","plan":"pro"}`
	benchOrders  = `[{"id":1,"total":"9.90","status":"paid","lines":3},{"id":2,"total":"25.00","status":"open","lines":1}]`
	benchBilling = `{"balance":"12.50","currency":"USD","due":"2026-12-01"}`
)

// BenchmarkAggregate measures one 3-call aggregate request against local
// keep-alive upstreams, and the same three calls made by a client directly
// (one after the other, and concurrently) as the baseline.
func BenchmarkAggregate(b *testing.B) {
	users := jsonUpstream(b, 0, benchUser)
	orders := jsonUpstream(b, 0, benchOrders)
	billing := jsonUpstream(b, 0, benchBilling)
	trs := proxy.NewTransports()
	s := setup{
		upstreams: map[string][]string{"users": {users.URL}, "orders": {orders.URL}, "billing": {billing.URL}},
		deps:      Deps{Transports: trs},
	}
	h, _ := s.build(b, calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}"},
		&config.AggregateCall{Name: "orders", Upstream: "orders", Path: "/orders?user_id={user_id}", Select: []string{"id", "total", "status"}},
		&config.AggregateCall{Name: "billing", Upstream: "billing", Path: "/billing/{user_id}"},
	))
	newReq := func() (*http.Request, *pipeline.Exchange) {
		x := params("42")
		x.ID = "req-bench"
		r := httptest.NewRequest(http.MethodGet, "/dashboard/42", nil)
		return r.WithContext(pipeline.WithExchange(r.Context(), x)), x
	}
	b.Run("aggregate", func(b *testing.B) {
		r, _ := newReq()
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			if err := h.ServeHTTP(w, r); err != nil || w.code != http.StatusOK {
				b.Fatalf("ServeHTTP() = %d, %v", w.code, err)
			}
		}
	})
	b.Run("aggregate-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r, _ := newReq()
			w := &discardWriter{h: make(http.Header)}
			for pb.Next() {
				clear(w.h)
				if err := h.ServeHTTP(w, r); err != nil || w.code != http.StatusOK {
					b.Errorf("ServeHTTP() = %d, %v", w.code, err)
					return
				}
			}
		})
	})
	client := &http.Client{Transport: trs.Get(0, 0)}
	urls := []string{users.URL + "/users/42", orders.URL + "/orders?user_id=42", billing.URL + "/billing/42"}
	get := func(u string) error {
		res, err := client.Get(u)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return err
	}
	b.Run("direct-sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, u := range urls {
				if err := get(u); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("direct-concurrent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var wg sync.WaitGroup
			for _, u := range urls {
				wg.Go(func() {
					if err := get(u); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
	})
}

// BenchmarkMerge measures shaping and encoding three decoded answers.
func BenchmarkMerge(b *testing.B) {
	s := setup{upstreams: map[string][]string{"users": {"http://127.0.0.1:9"}}}
	hd, _ := s.build(b, calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u", Select: []string{"id", "name"}},
		&config.AggregateCall{Name: "orders", Upstream: "users", Path: "/o", Select: []string{"id", "total", "status"}, Rename: map[string]string{"id": "order_id"}},
		&config.AggregateCall{Name: "billing", Upstream: "users", Path: "/b"},
	))
	h := hd.(*handler)
	rn := &run{h: h, results: make([]any, 3), state: []callState{succeeded, succeeded, succeeded}}
	for i, body := range []string{benchUser, benchOrders, benchBilling} {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&rn.results[i]); err != nil {
			b.Fatal(err)
		}
	}
	raw := json.RawMessage(benchBilling)
	rn.results[2] = &raw
	b.ReportAllocs()
	for b.Loop() {
		if out := h.merge(rn); len(out) == 0 {
			b.Fatal("empty answer")
		}
	}
}

// BenchmarkRender measures resolving a path template with a parameter and
// a field of another call's answer.
func BenchmarkRender(b *testing.B) {
	tp, err := parseTemplate("/orders/{user.id}/lines?user={id}&sort=desc", kindPath)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range tp.refs() {
		r.call = 0
	}
	e := testEnv(-1)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = tp.render(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
}
