package e2e

import "testing"

// TestReviewEncodedSlashTraversal: on a route with allow_encoded_slash, an
// encoded slash or backslash next to an empty, "." or ".." piece is
// refused. The gateway reads /files/..%2Fadmin as one segment under
// /files, but an upstream that decodes %2F (Tomcat with
// ALLOW_ENCODED_SLASH) or reads a backslash as a slash (IIS) resolves it
// to /admin, which the gateway protects; so does /%2Fadmin once
// strip_prefix removed what was in front of it.
func TestReviewEncodedSlashTraversal(t *testing.T) {
	g, e := reviewGateway(t, "  api_key: {header: X-API-Key}", `  - name: admin
    match: {path_prefix: /admin}
    upstream: app
    auth: [api_key]
  - name: files
    match: {path_prefix: /files}
    upstream: app
    allow_encoded_slash: true
  - name: stripped
    match: {path_prefix: /s}
    strip_prefix: /s
    upstream: app
    allow_encoded_slash: true
`)
	tests := []struct {
		target string
		status int
		uri    string // what the upstream gets on 200
	}{
		{"/files/..%2Fadmin", 400, ""},
		{"/files/..%2F..%2Fadmin/x", 400, ""},
		{"/files/%2e%2e%2fadmin", 400, ""},
		{"/files/..%5Cadmin", 400, ""},
		{"/files/..\\admin", 400, ""},
		{"/files/a%2F.%2F..%2F..%2Fadmin", 400, ""},
		{"/s/..%2Fadmin", 400, ""},
		{"/s/%2Fadmin", 400, ""},
		{"/files/a%2Fb.txt", 200, "/files/a%2Fb.txt"},
		{"/s/a%2Fb", 200, "/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			e.Reset()
			res := reviewSend(t, g.Addr, "GET "+tt.target+" HTTP/1.1\r\nHost: review.test\r\nConnection: close\r\n\r\n")
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.Status, tt.status, res.Body)
			}
			if tt.status != 200 {
				if n := e.Count(); n != 0 {
					t.Errorf("upstream got %d requests", n)
				}
				return
			}
			if got := res.seen(t).URI; got != tt.uri {
				t.Errorf("upstream got %q, want %q", got, tt.uri)
			}
		})
	}
}
