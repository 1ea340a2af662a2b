package balancer

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

func BenchmarkPick(b *testing.B) {
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("X-User-ID", "user-42")
	r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: "192.0.2.7"}))
	kinds := []struct{ kind, hashOn string }{
		{RoundRobin, ""}, {"round_robin_weighted", ""}, {LeastConn, ""}, {p2CEWMA, ""}, {Hash, "header:X-User-ID"},
	}
	for _, k := range kinds {
		for _, n := range []int{2, 3, 5, 10} {
			weights := make([]int, n)
			for i := range weights {
				weights[i] = 1
				if k.kind == "round_robin_weighted" {
					weights[i] = i + 1
				}
			}
			ms, fs := members(weights...)
			for i, f := range fs {
				f.setCost(float64(i+1) * 1e6)
			}
			kind := k.kind
			if kind == "round_robin_weighted" {
				kind = RoundRobin
			}
			p := mustNew(b, kind, k.hashOn, ms)
			b.Run(fmt.Sprintf("%s/backends=%d", k.kind, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if p.Pick(r, 0) < 0 {
							b.Error("Pick() found no member")
							return
						}
					}
				})
			})
		}
	}
}

func BenchmarkPickSerial(b *testing.B) {
	ms, _ := members(1, 1, 1)
	p := mustNew(b, LeastConn, "", ms)
	b.ReportAllocs()
	for b.Loop() {
		p.Pick(nil, 0)
	}
}

// BenchmarkPickOneDown is Pick with one of three members unavailable: the
// picks the first counter lands on it take the slower path.
func BenchmarkPickOneDown(b *testing.B) {
	for _, k := range []struct {
		name    string
		weights []int
	}{{"round_robin", []int{1, 1, 1}}, {"round_robin_weighted", []int{3, 1, 1}}} {
		ms, fs := members(k.weights...)
		fs[0].down.Store(true)
		p := mustNew(b, RoundRobin, "", ms)
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p.Pick(nil, 0) < 1 {
						b.Error("Pick() = the down member or none")
						return
					}
				}
			})
		})
	}
}
