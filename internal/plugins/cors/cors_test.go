package cors

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func policy(t *testing.T, c config.CORS) *Policy {
	t.Helper()
	p, err := New(&c, []string{"GET", "PUT"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPreflight(t *testing.T) {
	app := config.CORS{Origins: []string{"https://app.example.com"}, Headers: []string{"Authorization", "X-API-Key"}, MaxAge: config.Duration(10 * time.Minute)}
	tests := []struct {
		name       string
		cfg        config.CORS
		origin     string
		method     string
		headers    string
		wantStatus int
		wantOrigin string
	}{
		{"allowed", app, "https://app.example.com", "PUT", "x-api-key, Authorization", 204, "https://app.example.com"},
		{"origin case-insensitive", app, "https://APP.example.com", "GET", "", 204, "https://APP.example.com"},
		{"other origin", app, "https://evil.example", "GET", "", 403, ""},
		{"method not allowed", app, "https://app.example.com", "DELETE", "", 403, ""},
		{"header not allowed", app, "https://app.example.com", "GET", "X-Admin", 403, ""},
		{"any origin", config.CORS{Origins: []string{"*"}}, "https://x.example", "GET", "", 204, "*"},
		{"any origin with credentials echoes", config.CORS{Origins: []string{"*"}, AllowCredentials: true}, "https://x.example", "GET", "", 204, "https://x.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.cfg)
			r := httptest.NewRequest("OPTIONS", "/users/1", nil)
			r.Header.Set("Origin", tt.origin)
			r.Header.Set("Access-Control-Request-Method", tt.method)
			if tt.headers != "" {
				r.Header.Set("Access-Control-Request-Headers", tt.headers)
			}
			if !IsPreflight(r) {
				t.Fatal("IsPreflight = false")
			}
			w := httptest.NewRecorder()
			err := p.Preflight(w, r)
			status := w.Code
			var he *pipeline.HTTPError
			if errors.As(err, &he) {
				status = he.Status
			}
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (err %v)", status, tt.wantStatus, err)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Fatalf("Allow-Origin = %q, want %q", got, tt.wantOrigin)
			}
			if tt.wantStatus == 204 && tt.cfg.MaxAge > 0 && w.Header().Get("Access-Control-Max-Age") != "600" {
				t.Fatalf("Max-Age = %q", w.Header().Get("Access-Control-Max-Age"))
			}
		})
	}
}

// TestDecorate: an allowed origin's response gets the policy's headers in
// place of any upstream Access-Control-* header, and the gateway's own
// headers are exposed after the configured ones; another origin's, or one
// without Origin, is left untouched.
func TestDecorate(t *testing.T) {
	const gateway = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
	app := config.CORS{Origins: []string{"https://app.example.com"}, ExposeHeaders: []string{"X-Total"}}
	tests := []struct {
		name   string
		cfg    config.CORS
		origin string
		// upstream are headers already in the response.
		upstream http.Header
		want     http.Header
	}{
		{"allowed origin replaces upstream CORS", app, "https://app.example.com",
			http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}, "X-Total": {"3"}},
			http.Header{"Access-Control-Allow-Origin": {"https://app.example.com"}, "Vary": {"Origin"},
				"Access-Control-Expose-Headers": {"X-Total, " + gateway}, "X-Total": {"3"}}},
		{"gateway error", app, "https://APP.example.com",
			http.Header{"Retry-After": {"1"}, "Ratelimit-Limit": {"5"}},
			http.Header{"Access-Control-Allow-Origin": {"https://APP.example.com"}, "Vary": {"Origin"},
				"Access-Control-Expose-Headers": {"X-Total, " + gateway}, "Retry-After": {"1"}, "Ratelimit-Limit": {"5"}}},
		{"other origin untouched", app, "https://evil.example",
			http.Header{"Access-Control-Allow-Origin": {"*"}},
			http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"no origin untouched", app, "", http.Header{}, http.Header{}},
		{"any origin", config.CORS{Origins: []string{"*"}}, "https://x.example", http.Header{},
			http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}, "Access-Control-Expose-Headers": {gateway}}},
		{"credentials echo the origin", config.CORS{Origins: []string{"*"}, AllowCredentials: true, ExposeHeaders: []string{"x-request-id", "X-Total"}},
			"https://x.example", http.Header{},
			http.Header{"Access-Control-Allow-Origin": {"https://x.example"}, "Vary": {"Origin"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers": {"x-request-id, X-Total, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.cfg)
			h := tt.upstream.Clone()
			p.Decorate(h, tt.origin)
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("header = %v\nwant     %v", h, tt.want)
			}
		})
	}
}

func TestPreflightAnyHeader(t *testing.T) {
	p := policy(t, config.CORS{Origins: []string{"https://app.example.com"}, Headers: []string{"*"}})
	r := httptest.NewRequest("OPTIONS", "/users/1", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "GET")
	r.Header.Set("Access-Control-Request-Headers", "x-trace, authorization")
	w := httptest.NewRecorder()
	if err := p.Preflight(w, r); err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Get("Access-Control-Allow-Headers"); got != "x-trace, authorization" {
		t.Fatalf("Allow-Headers = %q", got)
	}
}
