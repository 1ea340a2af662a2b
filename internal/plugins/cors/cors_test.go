package cors

import (
	"errors"
	"net/http"
	"net/http/httptest"
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

func TestMiddlewareReplacesUpstreamHeaders(t *testing.T) {
	p := policy(t, config.CORS{Origins: []string{"https://app.example.com"}, ExposeHeaders: []string{"X-Total"}})
	next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.WriteHeader(200)
		return nil
	})
	h := p.Middleware(next)

	r := httptest.NewRequest("GET", "/users/1", nil)
	r.Header.Set("Origin", "https://app.example.com")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://app.example.com" {
		t.Fatalf("Allow-Origin = %q", got)
	}
	if w.Header().Get("Access-Control-Allow-Credentials") != "" || w.Header().Get("Access-Control-Expose-Headers") != "X-Total" {
		t.Fatalf("headers = %v", w.Header())
	}

	// Without an Origin, or from another origin, the response passes untouched.
	r = httptest.NewRequest("GET", "/users/1", nil)
	r.Header.Set("Origin", "https://evil.example")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("foreign origin response changed: %v", w.Header())
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
