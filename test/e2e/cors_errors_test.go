package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestCORSOnGatewayErrors: on routes with cors, the gateway's own answers
// (429, 401, 413, 502, 504) carry Access-Control-Allow-Origin for an
// allowed origin, and expose Retry-After, RateLimit-* and X-Request-ID, so
// a browser script can read the status, the back-off and the JSON error.
// A disallowed origin gets no CORS headers, on errors as on relayed
// answers. They used to be added to relayed answers only.
func TestCORSOnGatewayErrors(t *testing.T) {
	app := testkit.NewEcho(t, "app")
	slow := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	const cors = `    cors: {origins: ["https://app.example.com"], expose_headers: [X-Total]}`
	g := testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
consumers:
  - id: web
    api_keys: [{key: web-key-0123456789ab}]
upstreams:
  app: {targets: [{url: %q}]}
  dead: {targets: [{url: %q}]}
  slow: {targets: [{url: %q}], timeouts: {response: 300ms}}
routes:
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    rate_limit: {requests: 1, per: 1h, key: "header:X-Client"}
%[5]s
  - name: private
    match: {path_prefix: /private}
    upstream: app
    auth: [api_key]
%[5]s
  - name: upload
    match: {path_prefix: /upload}
    upstream: app
    max_body_bytes: 16
%[5]s
  - name: broken
    match: {path_prefix: /broken}
    upstream: dead
%[5]s
  - name: slow
    match: {path_prefix: /slow}
    upstream: slow
%[5]s
`, filepath.Join(t.TempDir(), "gantry.db"), app.URL, dead, slow.URL, cors)))

	const allowed = "https://app.example.com"
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		// headers besides Origin; client names the rate-limit bucket.
		headers []string
		status  int
		code    string
		// also are headers the answer carries, which a script must be
		// allowed to read.
		also []string
	}{
		{"429 rate limited", "GET", "/limited/a", "", []string{"X-Client: c1"}, 429, "rate_limited", []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}},
		{"401 unauthorized", "GET", "/private/a", "", nil, 401, "unauthorized", nil},
		{"413 body too large", "POST", "/upload/a", strings.Repeat("x", 64), nil, 413, "body_too_large", nil},
		{"502 upstream refused", "GET", "/broken/a", "", nil, 502, "bad_gateway", nil},
		{"504 upstream timeout", "GET", "/slow/a", "", nil, 504, "upstream_timeout", nil},
	}
	for i, tt := range tests {
		for _, origin := range []string{allowed, "https://evil.example"} {
			t.Run(tt.name+"/"+origin, func(t *testing.T) {
				headers := append([]string{"Origin: " + origin}, tt.headers...)
				if tt.status == 429 {
					// Each origin its own bucket: spend its one token.
					client := fmt.Sprintf("X-Client: c%d-%s", i, origin)
					headers = append([]string{"Origin: " + origin}, client)
					if r := get(t, g.URL+tt.path, headers...); r.Status != 200 {
						t.Fatalf("first request: %d", r.Status)
					}
				}
				r := do(t, tt.method, g.URL+tt.path, tt.body, headers...)
				if r.Status != tt.status {
					t.Fatalf("status %d, want %d (%s)", r.Status, tt.status, r.Body)
				}
				if e := r.gwError(t); e.Error != tt.code {
					t.Fatalf("error %q, want %q", e.Error, tt.code)
				}
				acao := r.Header.Values("Access-Control-Allow-Origin")
				expose := strings.ToLower(r.Header.Get("Access-Control-Expose-Headers"))
				if origin != allowed {
					if len(acao) != 0 || expose != "" {
						t.Fatalf("disallowed origin got Access-Control-Allow-Origin %q, Expose-Headers %q", acao, expose)
					}
					return
				}
				if len(acao) != 1 || acao[0] != allowed {
					t.Fatalf("Access-Control-Allow-Origin = %q, want %q", acao, allowed)
				}
				if !strings.Contains(r.Header.Get("Vary"), "Origin") {
					t.Errorf("Vary = %q, want Origin", r.Header.Values("Vary"))
				}
				for _, h := range append([]string{"X-Request-ID", "X-Total"}, tt.also...) {
					if !strings.Contains(expose, strings.ToLower(h)) {
						t.Errorf("Access-Control-Expose-Headers %q does not name %s", expose, h)
					}
				}
				for _, h := range tt.also {
					if r.Header.Get(h) == "" {
						t.Errorf("%s missing on the %d", h, tt.status)
					}
				}
			})
		}
	}

	// A relayed answer gets the same headers, and 404 (no route) none.
	r := get(t, g.URL+"/private/a", "Origin: "+allowed, "X-API-Key: web-key-0123456789ab")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("relayed answer: %d, Access-Control-Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	r = get(t, g.URL+"/nowhere", "Origin: "+allowed)
	if r.Status != 404 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("404: %d, Access-Control-Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
}
