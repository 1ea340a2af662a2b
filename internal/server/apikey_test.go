package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestServeHTTPKeyNeverForwarded: on routes whose auth does not read API
// keys (public routes, JWT routes), a key in auth.api_key's header or query
// parameter is removed unread: a key is never forwarded. Authorization is
// left alone when it is the key's header, since other credentials share it.
func TestServeHTTPKeyNeverForwarded(t *testing.T) {
	tests := []struct {
		name      string
		header    string
		path      string
		reqHeader http.Header
		wantURI   string
		wantGone  []string
		wantKept  map[string]string
	}{
		{"public route: header and query", "X-API-Key", "/x?a=1&api_key=gk_leak_0123456789abcdef&b=2",
			http.Header{"X-Api-Key": {"gk_leak_0123456789abcdef"}, "X-Other": {"1"}},
			"/x?a=1&b=2", []string{"X-Api-Key"}, map[string]string{"X-Other": "1"}},
		{"public route: encoded parameter name", "X-API-Key", "/x?api%5Fkey=gk_leak_0123456789abcdef",
			nil, "/x", nil, nil},
		{"public route: Authorization is the key's header and stays", "Authorization", "/x",
			http.Header{"Authorization": {"Basic eA=="}}, "/x", nil, map[string]string{"Authorization": "Basic eA=="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testkit.NewEcho(t, "app")
			s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  api_key: {header: %q, query: api_key}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: public
    match: {path_prefix: /}
    upstream: app
`, tt.header, e.URL))
			rec := serve(s, newRequest("GET", tt.path, nil, tt.reqHeader))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			seen := e.Requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			if seen[0].URI != tt.wantURI {
				t.Errorf("upstream URI %q, want %q", seen[0].URI, tt.wantURI)
			}
			for _, h := range tt.wantGone {
				if v, ok := seen[0].Header[h]; ok {
					t.Errorf("upstream got %s: %q", h, v)
				}
			}
			for h, v := range tt.wantKept {
				if got := seen[0].Header[h]; len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
		})
	}
}
