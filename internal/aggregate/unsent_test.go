package aggregate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestUnsentCallRetried: a call that is not idempotent goes to another
// target when nothing of it was written to the first (connection refused),
// and only then.
func TestUnsentCallRetried(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	var good atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	for _, method := range []string{"POST", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			good.Store(0)
			s := setup{
				upstreams: map[string][]string{"users": {dead.URL, up.URL}},
				configure: func(_ string, u *config.Upstream) { u.Retries = 1 },
			}
			h, _ := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Method: method, Path: "/u"}))
			// Round robin starts at the first target, which refuses.
			x := params("1")
			if _, err := serve(h, "/dashboard/1", x); err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			if good.Load() != 1 || x.Attempts != 2 {
				t.Errorf("good target got %d calls, Exchange.Attempts %d; want 1, 2", good.Load(), x.Attempts)
			}
		})
	}
}
