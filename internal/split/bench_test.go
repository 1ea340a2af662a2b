package split

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// BenchmarkServe measures the split's own work per request: matches,
// health of the sides, the draw (the sides' handlers do nothing).
func BenchmarkServe(b *testing.B) {
	for _, bc := range []struct {
		name   string
		sticky bool
		header string
	}{{"weights", false, ""}, {"match", false, "1"}, {"sticky", true, ""}} {
		b.Run(bc.name, func(b *testing.B) {
			rc := route()
			if bc.sticky {
				rc.Sticky = &config.Sticky{Cookie: "gantry-split", TTL: config.Duration(time.Hour)}
			}
			h, _, _ := build(b, rc, nil)
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			if bc.header != "" {
				r.Header.Set("X-Canary", bc.header)
			}
			if bc.sticky {
				r.Header.Set("Cookie", "gantry-split="+Token("orders", "v1"))
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}
