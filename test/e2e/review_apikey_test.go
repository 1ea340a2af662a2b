package e2e

import "testing"

// TestReviewKeyNeverForwarded: an API key sent to a route whose auth does
// not read keys (a public route, a JWT route) is removed like on a key
// route, from the header and from the query: a key is never forwarded.
func TestReviewKeyNeverForwarded(t *testing.T) {
	g, _ := reviewGateway(t, "  api_key: {header: X-API-Key, query: api_key}", `  - name: keyed
    match: {path_prefix: /keyed}
    upstream: app
    auth: [api_key]
  - name: public
    match: {path_prefix: /}
    upstream: app
`)
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
