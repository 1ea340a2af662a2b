package e2e

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestReviewKeyNeverForwarded: an API key sent to a route whose auth does
// not read keys (a public route, a JWT route) is removed like on a key
// route, from the header and from the query: a key is never forwarded.
func TestReviewKeyNeverForwarded(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  api_key: {header: X-API-Key, query: api_key}
consumers:
  - id: acme
    api_keys: [{key: %q}]
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: keyed
    match: {path_prefix: /keyed}
    upstream: app
    auth: [api_key]
  - name: public
    match: {path_prefix: /}
    upstream: app
`, reviewKey, e.URL))
	for _, target := range []string{"/x?a=1&api_key=" + reviewKey, "/keyed/x?a=1&api_key=" + reviewKey} {
		t.Run(target, func(t *testing.T) {
			res := reviewSend(t, g.Addr, "GET "+target+" HTTP/1.1\r\nHost: review.test\r\nX-API-Key: "+reviewKey+"\r\nConnection: close\r\n\r\n")
			if res.Status != 200 {
				t.Fatalf("status %d, body %s", res.Status, res.Body)
			}
			seen := res.seen(t)
			if v, ok := seen.Header["X-Api-Key"]; ok {
				t.Errorf("upstream got X-API-Key: %q", v)
			}
			if seen.Query != "a=1" {
				t.Errorf("upstream query %q, want a=1", seen.Query)
			}
		})
	}
}
