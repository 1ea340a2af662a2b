package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestReviewAggregateClientBody: an aggregate route uses no request body,
// but a body the client fails to deliver is still the client's error
// there: 400 for broken framing or a short body, 408 past read_timeout,
// with no call made, never a 200 merged from calls for a request the
// gateway could not read.
func TestReviewAggregateClientBody(t *testing.T) {
	var calls atomic.Int32
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"u1"}`)
	}))
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  limits: {read_timeout: 300ms}
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: agg
    match: {path: "/agg/{id}"}
    aggregate:
      calls:
        - {name: user, upstream: app, path: "/users/{id}"}
`, up.URL))
	head := "POST /agg/u1 HTTP/1.1\r\nHost: review.test\r\n"
	tests := []struct {
		name, send string
		status     int
	}{
		{"broken chunked body", head + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400},
		{"chunk size overflow", head + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n", 400},
		{"body stalls past read_timeout", head + "Content-Length: 10\r\n\r\nabc", 408},
		{"whole body (control)", head + "Content-Length: 3\r\nConnection: close\r\n\r\nabc", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			start := time.Now()
			res := reviewSend(t, g.Addr, tt.send)
			if res.Status != tt.status {
				t.Fatalf("status %d after %v, want %d; body %s", res.Status, time.Since(start), tt.status, res.Body)
			}
			if tt.status == 200 {
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(string(res.Body), `"error"`) {
				t.Errorf("answer %q %s is not the contract's JSON error", ct, res.Body)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("%d calls made for a request whose body failed", n)
			}
		})
	}
}
