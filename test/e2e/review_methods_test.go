package e2e

import "testing"

// TestReviewLowerCaseMethod: a method with a lower-case letter is refused
// with 400, as NGINX does. Routes match methods case-sensitively, so
// "delete /orders" skipped the route protecting DELETE /orders and reached
// the upstream through the public catch-all, where Django, Werkzeug and
// Symfony upper-case it and delete; "trace" passed the TRACE refusal.
func TestReviewLowerCaseMethod(t *testing.T) {
	g, e := reviewGateway(t, "  api_key: {header: X-API-Key}", `  - name: delete-orders
    match: {path: /orders, methods: [DELETE]}
    upstream: app
    auth: [api_key]
  - name: public
    match: {path_prefix: /}
    upstream: app
`)
	tests := []struct {
		method string
		status int
	}{
		{"delete", 400},
		{"Delete", 400},
		{"trace", 400},
		{"Trace", 400},
		{"DELETE", 401},
		{"GET", 200},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			e.Reset()
			res := reviewSend(t, g.Addr, tt.method+" /orders HTTP/1.1\r\nHost: review.test\r\nConnection: close\r\n\r\n")
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.Status, tt.status, res.Body)
			}
			if tt.status == 400 {
				if ge := res.gwError(t); ge.Error != "bad_request" {
					t.Errorf("error %q, want bad_request", ge.Error)
				}
				if n := e.Count(); n != 0 {
					t.Errorf("upstream got %d requests", n)
				}
			}
		})
	}
}
