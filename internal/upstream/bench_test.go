package upstream

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// BenchmarkPoolPick measures Pool.Pick, the balancer plus the tried-set
// translation, under parallel load.
func BenchmarkPoolPick(b *testing.B) {
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("X-User-ID", "user-42")
	r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: "192.0.2.7"}))
	for _, kind := range []string{"round_robin", "least_conn", "p2c_ewma", "hash"} {
		for _, n := range []int{2, 5, 10} {
			weights := make([]int, n)
			for i := range weights {
				weights[i] = 1
			}
			p := newPoolOn(b, nil, &config.Upstream{Balancer: kind, HashOn: "header:X-User-ID"}, weights...)
			tried := p.Targets()[:1]
			b.Run(fmt.Sprintf("%s/backends=%d", kind, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Pick(r, tried); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func TestPoolPickZeroAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/orders", nil)
	for _, kind := range []string{"round_robin", "least_conn", "p2c_ewma", "hash"} {
		p := newPoolOn(t, nil, &config.Upstream{Balancer: kind, HashOn: "ip"}, 1, 2, 3)
		tried := p.Targets()[:1]
		if n := testing.AllocsPerRun(100, func() { p.Pick(r, tried) }); n != 0 {
			t.Errorf("%s: Pick() allocates %.1f times, want 0", kind, n)
		}
	}
}
