package e2e

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestMatrixParamsAndSpaces sends raw request lines to the binary: a
// protected prefix cannot be reached through a public catch-all by adding
// ";params" to a segment or an encoded space; a route that opts in with
// allow_matrix_params gets its path with its parameters, after its own auth.
func TestMatrixParamsAndSpaces(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: admin
    match: {path_prefix: /admin}
    upstream: app
    auth: [jwt:corp]
  - name: private
    match: {path_prefix: /private}
    upstream: app
    auth: [jwt:corp]
  - name: legacy
    match: {path_prefix: /legacy}
    upstream: app
    strip_prefix: /legacy
    allow_matrix_params: true
  - name: vault
    match: {path_prefix: /vault}
    upstream: app
    auth: [jwt:corp]
    allow_matrix_params: true
  - name: public
    match: {path_prefix: /}
    upstream: app
`, jwtSecret, e.URL)))
	tests := []struct {
		target string
		status int
		upURI  string // what the upstream received; "" for nothing
	}{
		{"/admin;x=1/y", 400, ""},
		{"/admin;jsessionid=1", 400, ""},
		{"/private;/x", 400, ""},
		{"/admin%3bx=1/y", 400, ""},
		{"/%3Bx/admin/y", 400, ""},
		{"/admin%20/x", 400, ""},
		{"/public/a%20b", 400, ""},
		{"/admin/y", 401, ""},
		{"/vault;v=1/secret", 401, ""},
		{"/legacy;v=1/report;rev=3", 200, "/report;rev=3"},
		{"/public/x", 200, "/public/x"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			e.Reset()
			resps, bodies, _ := raw(t, g.Addr, "GET "+tt.target+" HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n")
			if len(resps) != 1 || resps[0].StatusCode != tt.status {
				t.Fatalf("status %v, want %d (bodies %q)", statusOf(resps), tt.status, bodies)
			}
			if tt.status >= 400 && resps[0].Header.Get("Content-Type") != "application/json" {
				t.Fatalf("error Content-Type %q, want application/json", resps[0].Header.Get("Content-Type"))
			}
			seen := e.Requests()
			switch {
			case tt.upURI == "" && len(seen) != 0:
				t.Fatalf("upstream received %q", seen[0].URI)
			case tt.upURI != "" && (len(seen) != 1 || seen[0].URI != tt.upURI):
				t.Fatalf("upstream received %+v, want %q", seen, tt.upURI)
			}
		})
	}
}
