package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServeHTTPLowerCaseMethod: a method with a lower-case letter is
// refused with 400 before routing, as NGINX does. The router reads methods
// case-sensitively (RFC 9110 §9.1), but Django, Werkzeug and Symfony
// upper-case them, so "delete" would pass a route protecting DELETE and
// reach them as DELETE.
func TestServeHTTPLowerCaseMethod(t *testing.T) {
	s, e := hygieneServer(t)
	tests := []struct {
		method string
		status int
	}{
		{"delete", http.StatusBadRequest},
		{"Delete", http.StatusBadRequest},
		{"trace", http.StatusBadRequest},
		{"gEt", http.StatusBadRequest},
		{"m-search", http.StatusBadRequest},
		{"GET", http.StatusUnauthorized}, // routed: the route wants a token
		{"DELETE", http.StatusUnauthorized},
		{"M-SEARCH", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			e.Reset()
			rec := serve(s, httptest.NewRequest(tt.method, "/orders/7", nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == http.StatusBadRequest && !strings.Contains(rec.Body.String(), `"bad_request"`) {
				t.Errorf("body %s is not the contract's bad_request", rec.Body)
			}
			if n := e.Count(); n != 0 {
				t.Errorf("upstream got %d requests", n)
			}
		})
	}
}
