package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestReviewNoInformationalToHTTP10: an upstream's 103 Early Hints reach
// an HTTP/1.1 client and never an HTTP/1.0 one (RFC 9110 §15.2), which
// cannot tell a 1xx from the final answer: it would take the 103 for the
// answer and the real one for its body. Both ways to the upstream: the
// direct client (a GET) and ReverseProxy (a body over 64 KiB).
func TestReviewNoInformationalToHTTP10(t *testing.T) {
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "final answer")
	}))
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`, up.URL))
	big := strings.Repeat("a", 70<<10)
	tests := []struct {
		name, req string
		want      []int
	}{
		{"HTTP/1.1 GET (control)", "GET /x HTTP/1.1\r\nHost: review.test\r\nConnection: close\r\n\r\n", []int{103, 200}},
		{"HTTP/1.0 GET", "GET /x HTTP/1.0\r\nHost: review.test\r\n\r\n", []int{200}},
		{"HTTP/1.0 POST of 70 KiB", fmt.Sprintf("POST /x HTTP/1.0\r\nHost: review.test\r\nContent-Length: %d\r\n\r\n%s", len(big), big), []int{200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resps, bodies, _ := raw(t, g.Addr, tt.req)
			var got []int
			for _, r := range resps {
				got = append(got, r.StatusCode)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("client got %v, want %v (bodies %q)", got, tt.want, bodies)
			}
			if last := bodies[len(bodies)-1]; last != "final answer" {
				t.Errorf("final body %q", last)
			}
		})
	}
}
