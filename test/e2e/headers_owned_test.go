package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestOwnedHeadersThroughBinary sends raw requests to the binary and checks
// what the upstream receives: the headers the gateway sets survive the
// client's Connection list, on the direct way (a GET, with a header map
// for the route's header rules and without one on a route that has none)
// and through ReverseProxy (a chunked POST); names with '.' are dropped like names with
// '_'; a peer outside trusted_proxies cannot send X-Forwarded-* or
// X-Real-IP, and X-Forwarded-Port is the gateway's port.
func TestOwnedHeadersThroughBinary(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
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
  - name: public
    match: {path_prefix: /public}
    upstream: app
`, jwtSecret, e.URL)))
	tok, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, gjwt.MapClaims{
		"iss": "https://id.example.com/", "aud": "orders-api", "sub": "client-acme", "scope": "orders:read",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(g.Addr)
	const listAll = "Connection: close, X-User-Sub, X-User-Scope, X-Request-ID, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Port, X-Real-IP, X-Consumer-ID, X-Gateway\r\n"
	owned := map[string]string{
		"X-User-Sub": "client-acme", "X-User-Scope": "orders:read", "X-Request-Id": "req-owned-1",
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "api.example", "X-Forwarded-Proto": "http",
		"X-Forwarded-Port": port, "X-Real-Ip": "127.0.0.1", "X-Gateway": "gantry",
	}
	tests := []struct {
		name    string
		request string
		want    map[string]string // "" = absent
	}{
		{
			name:    "Connection names the gateway's headers, direct",
			request: "GET /orders/1 HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer " + tok + "\r\nX-Request-ID: req-owned-1\r\n" + listAll + "\r\n",
			want:    owned,
		},
		{
			name:    "Connection names the gateway's headers, streamed body",
			request: "POST /orders/1 HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer " + tok + "\r\nX-Request-ID: req-owned-1\r\nTransfer-Encoding: chunked\r\n" + listAll + "\r\n3\r\nabc\r\n0\r\n\r\n",
			want:    owned,
		},
		{
			// A route without header rules sends the client's header as
			// it came, the gateway's fields after it (h1.Outbound), each
			// replacing the client's of its name: X-Request-Id once.
			name: "Connection names the gateway's headers, no header rules, names in lower case",
			request: "GET /public/1 HTTP/1.1\r\nhost: api.example\r\nx-request-id: req-owned-1\r\nkeep-alive: timeout=5\r\n" +
				"te: deflate, trailers\r\nx-custom: kept\r\nx-hop: dropped\r\n" +
				"connection: close, x-hop, x-forwarded-for, x-forwarded-host, x-forwarded-proto, x-forwarded-port, x-real-ip\r\n\r\n",
			want: map[string]string{
				"X-Request-Id": "req-owned-1", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "api.example",
				"X-Forwarded-Proto": "http", "X-Forwarded-Port": port, "X-Real-Ip": "127.0.0.1",
				"Keep-Alive": "", "Te": "trailers", "X-Custom": "kept", "X-Hop": "",
			},
		},
		{
			name:    "dots in names",
			request: "GET /public/1 HTTP/1.1\r\nHost: api.example\r\nX.Consumer.ID: admin\r\nX-Consumer.Groups: root\r\nX.User.Sub: forged\r\nConnection: close\r\n\r\n",
			want:    map[string]string{"X.consumer.id": "", "X-Consumer.groups": "", "X.user.sub": "", "X-Consumer-Id": ""},
		},
		{
			name: "untrusted peer's forwarding headers",
			request: "GET /public/1 HTTP/1.1\r\nHost: api.example\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\n" +
				"X-Forwarded-Server: evil\r\nX-Forwarded-Scheme: https\r\nX-Forwarded-Ssl: on\r\nX-Forwarded-Uri: /admin\r\n" +
				"X-Original-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\nForwarded: for=10.0.0.1;proto=https\r\nConnection: close\r\n\r\n",
			want: map[string]string{
				"X-Forwarded-Port": port, "X-Forwarded-Prefix": "", "X-Forwarded-Server": "", "X-Forwarded-Scheme": "",
				"X-Forwarded-Ssl": "", "X-Forwarded-Uri": "", "X-Original-Forwarded-For": "", "X-Real-Ip": "127.0.0.1",
				"Forwarded": "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			resps, bodies, _ := raw(t, g.Addr, tt.request)
			if len(resps) != 1 || resps[0].StatusCode != 200 {
				t.Fatalf("status %v, bodies %q", statusOf(resps), bodies)
			}
			seen := e.Requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			h := http.Header(seen[0].Header)
			for k, want := range tt.want {
				if got := strings.Join(h[k], "|"); got != want {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}
