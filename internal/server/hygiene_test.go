package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/testkit"
)

const hygieneSecret = "0123456789abcdef0123456789abcdef-unit-secret"

// hygieneServer has a JWT route forwarding two claims and setting a header
// of its own, and trusts 10.0.0.0/8 as proxies.
func hygieneServer(t *testing.T) (*Server, *testkit.Echo) {
	t.Helper()
	e := testkit.NewEcho(t, "app")
	s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  trusted_proxies: [10.0.0.0/8]
auth:
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub, scope: X-User-Scope}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: app
    auth: [jwt:corp]
    request_headers: {set: {X-Gateway: gantry}}
`, hygieneSecret, e.URL))
	return s, e
}

func hygieneToken(t *testing.T) string {
	t.Helper()
	tok, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, gjwt.MapClaims{
		"iss": "https://id.example.com/", "aud": "orders-api", "sub": "client-acme", "scope": "orders:read",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(hygieneSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestServeHTTPOwnedHeaders sends requests through the server and checks
// the headers the upstream receives: the gateway's own survive a client's
// Connection list, ambiguous names are dropped, and only trusted proxies
// may speak about the client's connection.
func TestServeHTTPOwnedHeaders(t *testing.T) {
	s, e := hygieneServer(t)
	tok := hygieneToken(t)
	tests := []struct {
		name   string
		remote string
		header http.Header
		want   map[string]string // "" = absent
	}{
		{
			name:   "Connection lists the gateway's headers",
			remote: "203.0.113.9:5000",
			header: http.Header{"Connection": {"keep-alive, X-User-Sub, X-User-Scope, X-Request-ID, X-Consumer-ID, X-Forwarded-For, X-Forwarded-Port, X-Real-IP, X-Gateway"}},
			want: map[string]string{
				"X-User-Sub": "client-acme", "X-User-Scope": "orders:read", "X-Request-Id": "req-hyg",
				"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Port": "8443", "X-Real-Ip": "203.0.113.9",
				"X-Gateway": "gantry", "X-Forwarded-Proto": "http", "Connection": "",
			},
		},
		{
			name:   "Connection lists a client header",
			remote: "203.0.113.9:5000",
			header: http.Header{"Connection": {"X-Debug"}, "X-Debug": {"1"}, "X-Trace": {"t"}},
			want:   map[string]string{"X-Debug": "", "X-Trace": "t"},
		},
		{
			name:   "names with dots or underscores",
			remote: "203.0.113.9:5000",
			header: http.Header{"X.consumer.id": {"admin"}, "X_consumer_id": {"admin"}, "X-User.sub": {"forged"}},
			want:   map[string]string{"X.consumer.id": "", "X_consumer_id": "", "X-User.sub": "", "X-User-Sub": "client-acme"},
		},
		{
			name:   "untrusted peer's forwarding headers",
			remote: "203.0.113.9:5000",
			header: http.Header{
				"X-Forwarded-Port": {"443"}, "X-Forwarded-Prefix": {"/admin"}, "X-Forwarded-Server": {"evil"},
				"X-Forwarded-Scheme": {"https"}, "X-Forwarded-Ssl": {"on"}, "X-Forwarded-Uri": {"/admin"},
				"X-Original-Forwarded-For": {"10.0.0.1"}, "Forwarded": {"for=10.0.0.1"}, "X-Real-Ip": {"10.0.0.1"},
			},
			want: map[string]string{
				"X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "", "X-Forwarded-Server": "", "X-Forwarded-Scheme": "",
				"X-Forwarded-Ssl": "", "X-Forwarded-Uri": "", "X-Original-Forwarded-For": "", "Forwarded": "",
				"X-Real-Ip": "203.0.113.9",
			},
		},
		{
			name:   "trusted peer's forwarding headers",
			remote: "10.0.0.7:5000",
			header: http.Header{
				"X-Forwarded-For": {"198.51.100.4"}, "X-Forwarded-Prefix": {"/shop"}, "X-Forwarded-Port": {"443"},
				"X-Original-Forwarded-For": {"198.51.100.4"},
			},
			want: map[string]string{
				"X-Forwarded-For": "198.51.100.4, 10.0.0.7", "X-Forwarded-Prefix": "/shop", "X-Forwarded-Port": "8443",
				"X-Original-Forwarded-For": "198.51.100.4", "X-Real-Ip": "198.51.100.4",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			r := newRequest("GET", "/orders/7", nil, tt.header)
			r.RemoteAddr = tt.remote
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("X-Request-Id", "req-hyg")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			seen := e.Requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			got := map[string]string{}
			for k := range tt.want {
				got[k] = strings.Join(seen[0].Header[k], "|")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("upstream headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServeHTTPPaths checks that routes are matched on the path without
// matrix parameters, that such paths are refused unless the route opts in,
// and that encoded spaces are refused.
func TestServeHTTPPaths(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: admin
    match: {path_prefix: /admin}
    upstream: app
    auth: [jwt:corp]
  - name: files
    match: {path_prefix: /files}
    upstream: app
    strip_prefix: /files
    allow_matrix_params: true
  - name: vault
    match: {path_prefix: /vault}
    upstream: app
    auth: [jwt:corp]
    allow_matrix_params: true
  - name: public
    match: {path_prefix: /}
    upstream: app
`, hygieneSecret, e.URL))
	tests := []struct {
		target string
		status int
		upURI  string // what the upstream received; "" for nothing
	}{
		{"/admin;x=1/y", http.StatusBadRequest, ""},
		{"/admin;jsessionid=1", http.StatusBadRequest, ""},
		{"/admin/;jsessionid=1", http.StatusBadRequest, ""},
		{"/admin%3Bx/y", http.StatusBadRequest, ""},
		{"/;x/admin/y", http.StatusBadRequest, ""},
		{"/admin/y", http.StatusUnauthorized, ""},
		{"/private;/x", http.StatusBadRequest, ""},
		{"/files;v=2/report;rev=3", http.StatusOK, "/report;rev=3"},
		{"/files/a;b/c", http.StatusOK, "/a;b/c"},
		{"/vault;x=1/secret", http.StatusUnauthorized, ""},
		{"/admin%20/x", http.StatusBadRequest, ""},
		{"/public/a%20b", http.StatusBadRequest, ""},
		{"/public/a+b", http.StatusOK, "/public/a+b"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			e.Reset()
			rec := serve(s, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			seen := e.Requests()
			switch {
			case tt.upURI == "" && len(seen) != 0:
				t.Fatalf("upstream received %q", seen[0].URI)
			case tt.upURI != "" && (len(seen) != 1 || seen[0].URI != tt.upURI):
				t.Fatalf("upstream received %+v, want %q", seen, tt.upURI)
			}
		})
	}
}

// TestServeHTTPProtocol checks the refusals made before routing: an
// HTTP/2 :path that is not a path, TRACE on a route listing no methods, and
// a request whose context ended before routing (an HTTP/2 stream the
// client reset), which must not reach the upstream nor take a rate-limit
// token.
func TestServeHTTPProtocol(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	s := newServer(t, gatewayConfig(e.URL, `  - name: app
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 1, per: 1h, key: ip}
`))
	h2 := func(target string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
		r.RequestURI = target
		return r
	}
	cancelled := func() *http.Request {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return httptest.NewRequest("GET", "/a", nil).WithContext(ctx)
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int // 0: nothing written
		allow  string
	}{
		{name: "h2 absolute :path", req: h2("http://evil.example/a"), status: http.StatusBadRequest},
		{name: "h2 relative :path", req: h2("a"), status: http.StatusBadRequest},
		{name: "h2 asterisk :path", req: h2("*"), status: http.StatusBadRequest},
		{name: "TRACE", req: httptest.NewRequest("TRACE", "/a", nil), status: http.StatusMethodNotAllowed, allow: "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"},
		{name: "reset before routing", req: cancelled()},
		{name: "reset before routing again", req: cancelled()},
		{name: "the token is still there", req: httptest.NewRequest("GET", "/a", nil), status: http.StatusOK},
	}
	for _, tt := range tests {
		e.Reset()
		w := httptest.NewRecorder()
		aborted := serveAborted(s, w, tt.req)
		got := w.Code
		if aborted || !w.Flushed && w.Body.Len() == 0 && len(w.Header()["Content-Type"]) == 0 {
			got = 0
		}
		if got != tt.status {
			t.Errorf("%s: status %d, want %d (body %s)", tt.name, w.Code, tt.status, w.Body)
		}
		if a := w.Header().Get("Allow"); a != tt.allow {
			t.Errorf("%s: Allow %q, want %q", tt.name, a, tt.allow)
		}
		if n := e.Count(); (n == 1) != (tt.status == http.StatusOK) {
			t.Errorf("%s: upstream saw %d requests", tt.name, n)
		}
	}
}

// serveAborted serves r and reports whether the handler aborted the
// connection (http.ErrAbortHandler), as it does for a request recorded as
// the client's going away, so that net/http answers nothing.
func serveAborted(s *Server, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	s.ServeHTTP(w, r)
	return false
}
