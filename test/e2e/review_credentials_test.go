package e2e

import (
	"encoding/base64"
	"testing"
)

// TestReviewBearerAfterTab: "Authorization: Bearer<TAB>token" is a bearer
// token. Upstreams that split credentials on any whitespace (Django REST
// framework, Python's str.split) read it as one, so the gateway must too:
// verified on a route that reads tokens, removed on a route that does not,
// never forwarded unverified.
func TestReviewBearerAfterTab(t *testing.T) {
	g, e := reviewHeadersGateway(t)
	enc := base64.RawURLEncoding
	forged := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"admin","exp":4102444800}`)) + "."
	tests := []struct {
		name, path, auth string
		status           int
	}{
		{"key and JWT route: valid key, forged token after a tab", "/both/x", "Bearer\t" + forged, 401},
		{"key and JWT route: valid key, forged token after tab and space", "/both/x", "bearer\t " + forged, 401},
		{"key-only route: valid key, forged token after a tab", "/keyed/x", "Bearer\t" + forged, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			req := "GET " + tt.path + " HTTP/1.1\r\nHost: review.test\r\nX-API-Key: " + reviewKey + "\r\nAuthorization: " + tt.auth + "\r\nConnection: close\r\n\r\n"
			res := reviewSend(t, g.Addr, req)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.Status, tt.status, res.Body)
			}
			if tt.status != 200 {
				if n := e.Count(); n != 0 {
					t.Errorf("upstream got %d requests", n)
				}
				return
			}
			if v, ok := res.seen(t).Header["Authorization"]; ok {
				t.Errorf("upstream got an unverified token: %q", v)
			}
		})
	}
}
