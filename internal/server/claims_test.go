package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestServeHTTPClaimHeadersEveryRoute checks that the headers of any JWT
// provider's forward_claims are the gateway's own on every route: a
// client's copy never reaches the upstream, on a route of another provider
// or on a public route.
func TestServeHTTPClaimHeadersEveryRoute(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  jwt:
    - name: corp
      secret: %q
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub, scope: x-user-scope}
    - name: other
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: other
    match: {path_prefix: /other}
    upstream: app
    auth: ["jwt:other"]
  - name: public
    match: {path_prefix: /}
    upstream: app
`, hygieneSecret, hygieneSecret, e.URL))
	tok := hygieneToken(t)
	tests := []struct {
		name   string
		path   string
		header http.Header
	}{
		{"public route", "/x", http.Header{"X-User-Sub": {"admin"}, "X-User-Scope": {"admin:all"}}},
		{"public route, lower case", "/x", http.Header{"x-user-sub": {"admin"}}},
		{"route of another provider", "/other/x", http.Header{"X-User-Sub": {"admin"}, "Authorization": {"Bearer " + tok}}},
		{"route of another provider, lower case", "/other/x", http.Header{"x-user-scope": {"admin:all"}, "Authorization": {"Bearer " + tok}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			rec := serve(s, newRequest("GET", tt.path, nil, tt.header))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			seen := e.Requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			for k, v := range seen[0].Header {
				if strings.EqualFold(k, "X-User-Sub") || strings.EqualFold(k, "X-User-Scope") {
					t.Errorf("upstream got the client's %s: %q", k, v)
				}
			}
		})
	}
}
