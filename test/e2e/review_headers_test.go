package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

const reviewKey = "gk_review_0123456789abcdef"

// reviewGateway starts a gateway with the given auth section (its lines,
// indented two spaces), one consumer acme holding reviewKey, one echo
// upstream app and the given routes (list items, indented two spaces).
func reviewGateway(t *testing.T, auth, routes string) (*testkit.Gantry, *testkit.Echo) {
	t.Helper()
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
%s
consumers:
  - id: acme
    api_keys: [{key: %q}]
upstreams:
  app:
    targets: [{url: %q}]
routes:
%s`, strings.TrimRight(auth, "\n"), reviewKey, e.URL, routes)))
	return g, e
}

// reviewHeadersGateway has a JWT provider forwarding two claims, a route
// of that provider, a route authenticating by API key only and a public
// route, all to one upstream.
func reviewHeadersGateway(t *testing.T) (*testkit.Gantry, *testkit.Echo) {
	t.Helper()
	return reviewGateway(t, `  api_key: {header: X-API-Key}
  jwt:
    - name: corp
      secret: "0123456789abcdef0123456789abcdef-review"
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub, scope: X-User-Scope}
`, `  - name: jwt
    match: {path_prefix: /jwt}
    upstream: app
    auth: ["jwt:corp"]
  - name: both
    match: {path_prefix: /both}
    upstream: app
    auth: [api_key, "jwt:corp"]
  - name: keyed
    match: {path_prefix: /keyed}
    upstream: app
    auth: [api_key]
  - name: public
    match: {path_prefix: /}
    upstream: app
`)
}

// TestReviewClaimHeadersEveryRoute: the headers of forward_claims are the
// gateway's own on every route, not only on the routes of their provider.
// An upstream behind a JWT route that trusts X-User-Sub is often behind a
// public or key-only route too, and must never get a client's copy there.
func TestReviewClaimHeadersEveryRoute(t *testing.T) {
	g, e := reviewHeadersGateway(t)
	tests := []struct {
		name, path string
		headers    []string
	}{
		{"public route", "/x", []string{"X-User-Sub: admin", "X-User-Scope: admin:all"}},
		{"key-only route", "/keyed/x", []string{"X-API-Key: " + reviewKey, "X-User-Sub: admin", "X-User-Scope: admin:all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			req := "GET " + tt.path + " HTTP/1.1\r\nHost: review.test\r\n" + strings.Join(tt.headers, "\r\n") + "\r\nConnection: close\r\n\r\n"
			res := reviewSend(t, g.Addr, req)
			if res.Status != 200 {
				t.Fatalf("status %d, body %s", res.Status, res.Body)
			}
			seen := res.seen(t)
			for _, h := range []string{"X-User-Sub", "X-User-Scope"} {
				if v, ok := seen.Header[h]; ok {
					t.Errorf("upstream got the client's %s: %q", h, v)
				}
			}
		})
	}
}

// reviewSend sends one raw request and returns the one answer.
func reviewSend(t *testing.T, addr, req string) response {
	t.Helper()
	resps, bodies, _ := raw(t, addr, req)
	if len(resps) != 1 {
		t.Fatalf("%d answers to %q", len(resps), req)
	}
	return response{Status: resps[0].StatusCode, Header: resps[0].Header, Body: []byte(bodies[0])}
}

// TestReviewHeaderNamesPunctuation: a header name with any byte but a
// letter, a digit or '-' is dropped, as NGINX does by default. lighttpd's
// CGI and FastCGI turn every other byte into '_', so X-Consumer+ID would
// reach a PHP upstream as HTTP_X_CONSUMER_ID, the gateway's own header.
func TestReviewHeaderNamesPunctuation(t *testing.T) {
	g, e := reviewHeadersGateway(t)
	names := []string{"X-Consumer+ID", "X-Consumer~ID", "X-Consumer!ID", "X-Consumer*ID", "X-Consumer#ID", "X-Consumer$ID",
		"X-Consumer%ID", "X-Consumer&ID", "X-Consumer'ID", "X-Consumer^ID", "X-Consumer`ID", "X-Consumer|ID", "X-User+Sub"}
	var hs []string
	for _, n := range names {
		hs = append(hs, n+": admin")
	}
	e.Reset()
	req := "GET /keyed/x HTTP/1.1\r\nHost: review.test\r\nX-API-Key: " + reviewKey + "\r\n" + strings.Join(hs, "\r\n") + "\r\nX-Plain-2: kept\r\nConnection: close\r\n\r\n"
	res := reviewSend(t, g.Addr, req)
	if res.Status != 200 {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	seen := res.seen(t)
	for k, v := range seen.Header {
		if strings.ContainsAny(k, "+~!*#$%&'^`|") {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if got := seen.Header["X-Consumer-Id"]; len(got) != 1 || got[0] != "acme" {
		t.Errorf("X-Consumer-ID = %q, want [acme]", got)
	}
	if got := seen.Header["X-Plain-2"]; len(got) != 1 || got[0] != "kept" {
		t.Errorf("X-Plain-2 = %q, want [kept]", got)
	}
}

// TestReviewProxyHeader: a client's Proxy header never reaches an
// upstream. CGI turns it into HTTP_PROXY, which many HTTP clients of a
// CGI upstream take for their outgoing proxy (httpoxy).
func TestReviewProxyHeader(t *testing.T) {
	g, _ := reviewHeadersGateway(t)
	res := reviewSend(t, g.Addr, "GET /x HTTP/1.1\r\nHost: review.test\r\nProxy: http://evil.example:8080\r\nProxy-Id: kept\r\nConnection: close\r\n\r\n")
	if res.Status != 200 {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	seen := res.seen(t)
	if v, ok := seen.Header["Proxy"]; ok {
		t.Errorf("upstream got Proxy: %q", v)
	}
	if got := seen.Header["Proxy-Id"]; len(got) != 1 || got[0] != "kept" {
		t.Errorf("Proxy-Id = %q, want [kept]", got)
	}
}

// TestReviewClientAddressHeaders: from a peer outside trusted_proxies, the
// client-address headers of CDNs and load balancers are removed like
// X-Real-IP. Rails' remote_ip and many PHP applications read
// HTTP_CLIENT_IP before X-Forwarded-For.
func TestReviewClientAddressHeaders(t *testing.T) {
	g, _ := reviewHeadersGateway(t)
	names := []string{"Client-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "X-Cluster-Client-IP"}
	var hs []string
	for _, n := range names {
		hs = append(hs, n+": 10.0.0.1")
	}
	res := reviewSend(t, g.Addr, "GET /x HTTP/1.1\r\nHost: review.test\r\n"+strings.Join(hs, "\r\n")+"\r\nConnection: close\r\n\r\n")
	if res.Status != 200 {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	seen := res.seen(t)
	for _, n := range names {
		if v, ok := seen.Header[http.CanonicalHeaderKey(n)]; ok {
			t.Errorf("upstream got %s: %q from an untrusted peer", n, v)
		}
	}
	if got := seen.Header["X-Real-Ip"]; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Real-IP = %q, want [127.0.0.1]", got)
	}
}
