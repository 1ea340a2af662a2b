package conformance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

const (
	apiKey    = "gk_conformance_0123456789abcdef"
	jwtSecret = "conformance-secret-0123456789abcdef-0123456789"
)

// inputGateway is the gateway every malformed-client-input case goes
// through: one scripted upstream with passive ejection after a single
// failure, so any failure blamed on it shows in /admin/upstreams at once.
func inputGateway(t *testing.T) *gateway {
	return startInputGateway(t, "")
}

// inputGatewayTLS is inputGateway serving TLS; its Addr is tls://host:port.
func inputGatewayTLS(t *testing.T) *gateway {
	cert, key := testkit.NewCert(t, "conformance.test").Files(t)
	g := startInputGateway(t, fmt.Sprintf("\n  tls: {cert_file: %q, key_file: %q}", cert, key))
	g.Addr = "tls://" + g.Addr
	return g
}

func startInputGateway(t *testing.T, serverExtra string) *gateway {
	up := newScripted(t, nil)
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"%s
auth:
  api_key: {header: X-API-Key}
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub}
consumers:
  - id: acme
    groups: [partners]
    api_keys: [{key: %q}]
    jwt_subjects: [client-acme]
upstreams:
  app:
    targets: [{url: %q}]
    passive: {failures: 1, eject_for: 1s}
routes:
  - name: admin-area
    match: {path_prefix: /admin}
    upstream: app
    auth: [api_key]
  - name: private
    match: {path_prefix: /private}
    upstream: app
    auth: [api_key]
  - name: keyed
    match: {path_prefix: /keyed}
    upstream: app
    auth: [api_key, "jwt:corp"]
  - name: files
    match: {path_prefix: /files}
    upstream: app
    allow_encoded_slash: true
  - name: stripped
    match: {path_prefix: /s}
    strip_prefix: /s
    upstream: app
    allow_encoded_slash: true
  - name: public
    match: {path_prefix: /}
    upstream: app
`, serverExtra, jwtSecret, apiKey, up.URL()))
	return &gateway{Gantry: g, up: up, upstream: "app"}
}

// TestClientInput sends malformed and hostile requests: framing and
// smuggling, broken bodies, path confusion against protected prefixes,
// headers the gateway owns, credentials, protocol hygiene, HTTP/2
// malformed streams and the admin API's exposure to web pages. None may
// reach the upstream where it must not, and none may be blamed on the
// upstream.
func TestClientInput(t *testing.T) {
	t.Parallel()
	g := inputGateway(t)
	cases := http1Cases(g)
	cases = append(cases, h2Cases()...)
	cases = append(cases, adminCases(g)...)
	g.run(t, cases, true)
	g.noUpstreamBlame(t, len(cases))
}

// TestClientInputTLS sends the HTTP/1.1 part of TestClientInput's table
// over TLS, where the same serving engine reads the decrypted bytes: every
// case must end as it does in the clear.
func TestClientInputTLS(t *testing.T) {
	t.Parallel()
	g := inputGatewayTLS(t)
	cases := http1Cases(g)
	g.run(t, cases, true)
	g.noUpstreamBlame(t, len(cases))
}

// http1Cases are the client table's HTTP/1.1 classes, for g.
func http1Cases(g *gateway) []tcase {
	var cases []tcase
	cases = append(cases, framingCases()...)
	cases = append(cases, bodyCases()...)
	cases = append(cases, pathCases()...)
	cases = append(cases, headerCases(g)...)
	cases = append(cases, credentialCases()...)
	cases = append(cases, hygieneCases()...)
	return cases
}

// noUpstreamBlame is the client table's acceptance: after n cases, no
// malformed client input moved passive health or the upstream error
// metrics, and the target still serves.
func (g *gateway) noUpstreamBlame(t *testing.T, n int) {
	t.Run("acceptance/no-upstream-blame", func(t *testing.T) {
		f := g.failures(t)
		t.Logf("after %d cases: %g upstream failures counted, %g answers 502, targets %v", n, f.upstreamErrors, f.gateway502, g.targetStates(t))
		if f.upstreamErrors != 0 || f.gateway502 != 0 || f.ejected != 0 {
			t.Errorf("malformed client input was blamed on the upstream: %+v", f)
		}
		if res := get(g.Addr, "/public/healthy"); ownReply("/public/healthy", "none", res) != "" {
			t.Errorf("the target no longer serves: %s", res)
		}
	})
}

func post(target, head, body string) string {
	return "POST " + target + " HTTP/1.1\r\nHost: conformance.test\r\n" + head + "\r\n" + body
}

// smuggled is a request hidden in a body; a gateway that frames the first
// request differently from its upstream would answer it too.
const smuggled = "GET /public/smuggled HTTP/1.1\r\nHost: conformance.test\r\n\r\n"

func framingCases() []tcase {
	refuse := func(name, send, anchor string) tcase {
		return tcase{class: 10, name: name, send: send, want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: anchor}
	}
	cases := []tcase{
		refuse("CL and TE", post("/public/a", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
			"NGINX 1.22: 400 and close (since 1.21.1); RFC 9112 §6.1"),
		refuse("TE and CL", post("/public/a", "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "0\r\n\r\n"+smuggled),
			"NGINX 1.22: 400 and close"),
		refuse("duplicate Content-Length", post("/public/a", "Content-Length: 3\r\nContent-Length: 40\r\n", "abc"+smuggled),
			"NGINX 1.22: 400 (duplicate header line); RFC 9112 §6.3"),
		refuse("Content-Length +3", post("/public/a", "Content-Length: +3\r\n", "abc"+smuggled),
			"NGINX 1.22: 400; RFC 9110 §8.6 (1*DIGIT)"),
		refuse("TE chunked, chunked", post("/public/a", "Transfer-Encoding: chunked, chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			"NGINX 1.22: 501 (only a lone chunked is known); RFC 9112 §7: chunked at most once"),
		refuse("TE xchunked", post("/public/a", "Transfer-Encoding: xchunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			"NGINX 1.22: 501; HAProxy: 400"),
		refuse("TE with space before colon", post("/public/a", "Transfer-Encoding : chunked\r\n", "0\r\n\r\n"+smuggled),
			"NGINX 1.22: 400; RFC 9112 §5.1 requires 400"),
		refuse("obs-fold TE", post("/public/a", "Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"+smuggled),
			"NGINX 1.22: 400; RFC 9112 §5.2"),
		refuse("obs-fold header", "GET /public/a HTTP/1.1\r\nHost: conformance.test\r\nX-Note: a\r\n b\r\n\r\n",
			"NGINX 1.22: 400"),
		refuse("bare LF line ends", "GET /public/a HTTP/1.1\nHost: conformance.test\nX-Note: a\n\n",
			"NGINX 1.22 accepts bare LF (RFC 9112 §2.2 allows it); the gateway refuses it"),
		refuse("bare CR in header", "GET /public/a HTTP/1.1\r\nHost: conformance.test\r\nX-Note: a\rX-Other: b\r\n\r\n",
			"RFC 9112 §2.2: reject or replace bare CR"),
		refuse("HTTP/1.0 with TE", "POST /public/a HTTP/1.0\r\nHost: conformance.test\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+smuggled,
			"NGINX 1.22: 400; RFC 9112 §6.1: treat as faulty framing and close"),
	}
	// TE: chunked,chunked and xchunked may also be 501 (NGINX's answer).
	for i := range cases {
		if strings.HasPrefix(cases[i].name, "TE chunked,") || cases[i].name == "TE xchunked" {
			cases[i].want, cases[i].code = "400|501", "*"
		}
	}
	cases = append(cases, tcase{class: 10, name: "pipelined good requests (control)",
		send: "GET /public/1 HTTP/1.1\r\nHost: conformance.test\r\n\r\n" + post("/public/2", "Content-Length: 3\r\n", "abc") +
			post("/public/3", "Transfer-Encoding: chunked\r\n", "3\r\nxyz\r\n0\r\n\r\n") + "GET /public/4 HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
		want: "200",
		check: func(res result, reqs []*upRequest) string {
			if len(res.Replies) != 4 {
				return fmt.Sprintf("%d answers to 4 pipelined requests", len(res.Replies))
			}
			for i, rp := range res.Replies {
				if want := fmt.Sprintf("{\"path\":\"/public/%d\"}\n", i+1); string(rp.Body) != want {
					return fmt.Sprintf("answer %d is %q, want %q", i+1, rp.Body, want)
				}
			}
			return ""
		}})
	return cases
}

// bodyCases are chunked bodies whose framing is broken (class 2): the
// client's error, 400 and close, never 502, never a complete request
// upstream, never a failure counted against the target.
func bodyCases() []tcase {
	bad := func(name, body, anchor string) tcase {
		return tcase{class: 2, name: name, send: post("/public/upload", "Transfer-Encoding: chunked\r\n", body),
			want: "400", code: "bad_request", close: true, never: []string{"2xx", "502"},
			up: upWant{noComplete: true}, after: []string{"/public/after"}, anchor: anchor}
	}
	const nginxChunk = "NGINX 1.22: 400 (client sent invalid chunked body); Go net/http rejects it"
	cases := []tcase{
		bad("chunk size ended by bare LF", "3\nabc\r\n0\r\n\r\n", "Go net/http rejects it"),
		bad("chunk size overflow fffffffffffffffff1", "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n", nginxChunk),
		bad("chunk size -3", "-3\r\nabc\r\n0\r\n\r\n", nginxChunk),
		bad("chunk size of 17 digits", "00000000000000003\r\nabc\r\n0\r\n\r\n", "Go net/http rejects more than 16 hex digits"),
		bad("chunk extension ended by LF", "3;ext=1\nabc\r\n0\r\n\r\n", "Go net/http rejects it"),
		bad("1 MiB of chunk extensions", "3;"+strings.Repeat("x", 1<<20)+"\r\nabc\r\n0\r\n\r\n", "Go net/http caps extensions; NGINX 1.22: 400"),
		bad("chunk size not hex", "3g\r\nabc\r\n0\r\n\r\n", nginxChunk),
		bad("chunk data longer than its size", "3\r\nabcdef\r\n0\r\n\r\n", nginxChunk),
		bad("second chunk broken after a good one", "3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n", nginxChunk),
		bad("trailer line without colon", "3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", "Go net/http rejects it"),
		bad("control byte in a long trailer value", "3\r\nabc\r\n0\r\nX-Sum: 0123456789\x01ab\r\n\r\n", "RFC 9110 §5.5; Go net/http rejects it"),
		{class: 2, name: "body shorter than Content-Length, then half-close",
			send: post("/public/upload", "Content-Length: 10\r\n", "abc"), opts: wireOpts{halfClose: true},
			want: "400|closed", never: []string{"2xx", "502"}, up: upWant{noComplete: true}, after: []string{"/public/after"},
			anchor: "NGINX 1.22: 400 (client prematurely closed connection), upstream request aborted"},
		{class: 2, name: "valid chunked body (control)", send: post("/public/upload", "Transfer-Encoding: chunked\r\nConnection: close\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			want: "200", up: upWant{uri: "/public/upload"},
			check: func(res result, reqs []*upRequest) string {
				if len(reqs) == 1 && string(reqs[0].Body) != "abc" {
					return fmt.Sprintf("upstream body %q, want \"abc\"", reqs[0].Body)
				}
				return ""
			}},
	}
	return cases
}

// pathCases try to reach a prefix protected by auth (/admin, /private)
// through a spelling that a public catch-all would take (class 8).
func pathCases() []tcase {
	protected := []string{"/admin", "/private"}
	try := func(target, want, anchor string) tcase {
		return tcase{class: 8, name: target, send: "GET " + target + " HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: want, up: upWant{notUnder: protected}, anchor: anchor}
	}
	return []tcase{
		try("/admin/x", "401", "control: the protected prefix without a key"),
		try("/admin;x=1/y", "401|400", "NGINX 1.22: 401; Tomcat, Jetty, Spring read /admin/y"),
		try("/admin;jsessionid=1", "401|400", "NGINX 1.22: 401; Tomcat reads /admin"),
		try("/private;/x", "401|400", "NGINX 1.22: 401; Tomcat reads /private/x"),
		try("/admin%3bx=1/y", "401|400|404", ""),
		try("/admin%20/x", "400|401", "NGINX 1.22: 401; docs/config.md refuses an encoded space"),
		try("/%61dmin/x", "401", "NGINX 1.22: 401 (decodes before matching)"),
		try("/admin/../admin/x", "401", "NGINX 1.22: 401 (resolves dot segments)"),
		try("//admin/x", "401", "NGINX 1.22: 401 (merge_slashes on)"),
		try("/admin%2f..", "400|401", "an encoded slash is refused unless the route allows it"),
		try("/public/..;/admin/x", "400|401", "Tomcat reads /admin/x; docs/config.md refuses ..;"),
		try("/ADMIN/x", "", "NGINX 1.22: prefix locations are case-sensitive, the catch-all serves /ADMIN/x unchanged"),
		try("/files/..%2F..%2Fadmin/x", "400", "allow_encoded_slash route: Tomcat with ALLOW_ENCODED_SLASH reads /admin/x (CVE-2007-0450)"),
		try("/files/..%5C..%5Cadmin/x", "400", "allow_encoded_slash route: IIS reads \\ as /"),
		try("/files/..\\..\\admin/x", "400", "allow_encoded_slash route: a raw backslash, IIS reads /admin/x"),
		try("/s/%2Fadmin/x", "400", "allow_encoded_slash route with strip_prefix: /%2Fadmin/x decoded is //admin/x, merged /admin/x"),
		try("/s/..%2Fadmin/x", "400", "allow_encoded_slash route with strip_prefix: /..%2Fadmin/x decoded is /admin/x"),
		{class: 8, name: "/files/a%2Fb.txt on an allow_encoded_slash route (control)", send: "GET /files/a%2Fb.txt HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{uri: "/files/a%2Fb.txt"}},
		{class: 8, name: "/admin/x with a key (control)", send: "GET /admin/x HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + apiKey + "\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{uri: "/admin/x", equal: map[string]string{"X-Consumer-ID": "acme"}, absent: []string{"X-API-Key"}}},
	}
}

// headerCases send headers that upstreams trust from an untrusted peer
// (class 9), and name the gateway's own headers in Connection (class 7).
func headerCases(g *gateway) []tcase {
	addr, overTLS := strings.CutPrefix(g.Addr, "tls://")
	_, port, _ := net.SplitHostPort(addr)
	proto := "http"
	if overTLS {
		proto = "https"
	}
	spoof := func(class int, name, header string, w upWant, anchor string) tcase {
		return tcase{class: class, name: name, send: "GET /public/h HTTP/1.1\r\nHost: conformance.test\r\n" + header + "\r\nConnection: close\r\n\r\n",
			want: "200", up: w, anchor: anchor}
	}
	return []tcase{
		spoof(9, "X-Consumer-ID", "X-Consumer-ID: admin", upWant{absent: []string{"X-Consumer-ID"}}, ""),
		spoof(9, "X_Consumer_ID", "X_Consumer_ID: admin", upWant{absent: []string{"X_Consumer_ID", "X-Consumer-ID"}}, "NGINX 1.22: dropped (underscores_in_headers off)"),
		spoof(9, "X.Consumer.ID", "X.Consumer.ID: admin", upWant{absent: []string{"X.Consumer.ID", "X-Consumer-ID"}}, "NGINX 1.22: dropped (ignore_invalid_headers on); CGI and PHP read it as X_CONSUMER_ID"),
		spoof(9, "X-Consumer+ID, X-Consumer~ID and other punctuation", "X-Consumer+ID: admin\r\nX-Consumer~ID: admin\r\nX-Consumer!ID: admin\r\nX-Consumer*ID: admin",
			upWant{absent: []string{"X-Consumer+ID", "X-Consumer~ID", "X-Consumer!ID", "X-Consumer*ID", "X-Consumer-ID"}},
			"NGINX 1.22: dropped (ignore_invalid_headers on: letters, digits and '-' only); lighttpd's CGI and FastCGI read them as HTTP_X_CONSUMER_ID"),
		spoof(9, "Proxy (httpoxy)", "Proxy: http://evil.example:8080", upWant{absent: []string{"Proxy"}},
			"httpoxy (CVE-2016-5385..5388): CGI reads it as HTTP_PROXY; Apache and NGINX advise removing it at the proxy"),
		spoof(9, "X-Forwarded-For", "X-Forwarded-For: 203.0.113.7", upWant{equal: map[string]string{"X-Forwarded-For": "127.0.0.1"}}, "NGINX $proxy_add_x_forwarded_for appends; Envoy replaces from untrusted peers"),
		spoof(9, "X-Forwarded-Host", "X-Forwarded-Host: evil.example", upWant{equal: map[string]string{"X-Forwarded-Host": "conformance.test"}}, ""),
		spoof(9, "X-Forwarded-Proto", "X-Forwarded-Proto: https", upWant{equal: map[string]string{"X-Forwarded-Proto": proto}}, "Envoy: set from the connection unless trusted"),
		spoof(9, "X-Forwarded-Port", "X-Forwarded-Port: 1", upWant{equal: map[string]string{"X-Forwarded-Port": port}}, ""),
		spoof(9, "X-Forwarded-Prefix", "X-Forwarded-Prefix: /evil", upWant{absent: []string{"X-Forwarded-Prefix"}}, "Spring's ForwardedHeaderFilter builds links from it"),
		spoof(9, "X-Forwarded-Server", "X-Forwarded-Server: evil.example", upWant{absent: []string{"X-Forwarded-Server"}}, ""),
		spoof(9, "X-Forwarded-Scheme", "X-Forwarded-Scheme: https", upWant{absent: []string{"X-Forwarded-Scheme"}}, ""),
		spoof(9, "X-Forwarded-Ssl", "X-Forwarded-Ssl: on", upWant{absent: []string{"X-Forwarded-Ssl"}}, ""),
		spoof(9, "X-Original-Forwarded-For", "X-Original-Forwarded-For: 203.0.113.7", upWant{absent: []string{"X-Original-Forwarded-For"}}, "ingress-nginx reads it as the client address"),
		spoof(9, "X-Original-URL", "X-Original-URL: /admin/x", upWant{absent: []string{"X-Original-URL"}}, "Symfony and IIS URL Rewrite take it for the request path"),
		spoof(9, "X-Rewrite-URL", "X-Rewrite-URL: /admin/x", upWant{absent: []string{"X-Rewrite-URL"}}, "Symfony takes it for the request path"),
		spoof(9, "Client-IP, True-Client-IP, CF-Connecting-IP and kin", "Client-IP: 203.0.113.7\r\nX-Client-IP: 203.0.113.7\r\nTrue-Client-IP: 203.0.113.7\r\nCF-Connecting-IP: 203.0.113.7\r\nFastly-Client-IP: 203.0.113.7\r\nX-Cluster-Client-IP: 203.0.113.7",
			upWant{absent: []string{"Client-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "X-Cluster-Client-IP"}},
			"Rails' remote_ip and many PHP applications read HTTP_CLIENT_IP before X-Forwarded-For; CDNs set the others"),
		spoof(9, "X-Client-Cert-Subject and -Fingerprint (forged client certificate)", "X-Client-Cert-Subject: CN=admin\r\nx-client-cert-fingerprint: 00ff\r\nX-CLIENT-CERT-SUBJECT: CN=root",
			upWant{absent: []string{"X-Client-Cert-Subject", "X-Client-Cert-Fingerprint"}},
			"Envoy's x-forwarded-client-cert and NGINX's $ssl_client_s_dn are set from the connection, never taken from the client"),
		spoof(9, "X-Real-IP", "X-Real-IP: 203.0.113.7", upWant{equal: map[string]string{"X-Real-IP": "127.0.0.1"}}, ""),
		spoof(9, "Forwarded", "Forwarded: for=203.0.113.7;proto=https", upWant{absent: []string{"Forwarded"}}, "RFC 7239; Envoy passes it unless told otherwise"),
		spoof(7, "Connection: X-Forwarded-For", "Connection: X-Forwarded-For, X-Real-IP", upWant{equal: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}}, "RFC 9110 §7.6.1 lets a proxy drop them; the gateway's own headers stay"),
		spoof(7, "Connection: X-Forwarded-Proto, X-Forwarded-Port", "Connection: X-Forwarded-Proto, X-Forwarded-Port, X-Forwarded-Host", upWant{equal: map[string]string{"X-Forwarded-Proto": proto, "X-Forwarded-Port": port, "X-Forwarded-Host": "conformance.test"}}, ""),
		{class: 7, name: "Connection: X-Request-ID", send: "GET /public/h HTTP/1.1\r\nHost: conformance.test\r\nX-Request-ID: conformance-1\r\nConnection: X-Request-ID, close\r\n\r\n",
			want: "200", up: upWant{equal: map[string]string{"X-Request-ID": "conformance-1"}}},
		{class: 7, name: "Connection: X-Consumer-ID", send: "GET /admin/x HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + apiKey + "\r\nConnection: X-Consumer-ID, X-Consumer-Groups, close\r\n\r\n",
			want: "200", up: upWant{equal: map[string]string{"X-Consumer-ID": "acme", "X-Consumer-Groups": "partners"}}},
		{class: 7, name: "Connection: X-User-Sub (a forwarded claim)", send: "GET /keyed/x HTTP/1.1\r\nHost: conformance.test\r\nAuthorization: Bearer " + jwtHS256(goodClaims(), jwtSecret) + "\r\nConnection: X-User-Sub, close\r\n\r\n",
			want: "200", up: upWant{equal: map[string]string{"X-User-Sub": "client-acme", "X-Consumer-ID": "acme"}}},
		spoof(7, "X-User-Sub (a forwarded claim) on a public route", "X-User-Sub: admin\r\nx-user-sub: admin", upWant{absent: []string{"X-User-Sub"}},
			"the claim header is the gateway's on every route: its upstream often serves a public route too"),
		{class: 7, name: "X-User-Sub (a forwarded claim) on a key-only route", send: "GET /admin/x HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + apiKey + "\r\nX-User-Sub: admin\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{absent: []string{"X-User-Sub"}, equal: map[string]string{"X-Consumer-ID": "acme"}}},
	}
}

func goodClaims() string {
	return fmt.Sprintf(`{"iss":"https://id.example.com/","aud":"orders-api","sub":"client-acme","exp":%d}`, time.Now().Add(time.Hour).Unix())
}

// jwtHS256 mints a token signed with secret.
func jwtHS256(claims, secret string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// jwtNone forges an unsigned token (RFC 7519 §6.1).
func jwtNone(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims)) + "."
}

// credentialCases present credentials on `auth: [api_key, "jwt:corp"]`
// (class 6): every credential presented must verify.
func credentialCases() []tcase {
	req := func(headers ...string) string {
		return "GET /keyed/x HTTP/1.1\r\nHost: conformance.test\r\n" + strings.Join(headers, "\r\n") + "\r\nConnection: close\r\n\r\n"
	}
	deny := func(name, send, anchor string) tcase {
		return tcase{class: 6, name: name, send: send, want: "401", code: "unauthorized", up: upWant{nothing: true}, anchor: anchor}
	}
	return []tcase{
		{class: 6, name: "valid key (control)", send: req("X-API-Key: " + apiKey),
			want: "200", up: upWant{equal: map[string]string{"X-Consumer-ID": "acme"}, absent: []string{"X-API-Key", "Authorization"}}},
		{class: 6, name: "valid JWT (control)", send: req("Authorization: Bearer " + jwtHS256(goodClaims(), jwtSecret)),
			want: "200", up: upWant{equal: map[string]string{"X-Consumer-ID": "acme", "X-User-Sub": "client-acme"}}},
		deny("valid key + forged alg:none JWT", req("X-API-Key: "+apiKey, "Authorization: Bearer "+jwtNone(goodClaims())),
			"RFC 8725 §3.1; a presented credential that fails is not ignored"),
		deny("alg:none JWT alone", req("Authorization: Bearer "+jwtNone(goodClaims())), "RFC 8725 §3.1"),
		deny("valid key + JWT signed with another secret", req("X-API-Key: "+apiKey, "Authorization: Bearer "+jwtHS256(goodClaims(), "another-secret-0123456789abcdef0123")), ""),
		deny("valid JWT + wrong key", req("X-API-Key: gk_wrong_0123456789abcdef", "Authorization: Bearer "+jwtHS256(goodClaims(), jwtSecret)), ""),
		deny("no credential", req("X-Note: none"), ""),
		{class: 6, name: "an API key on a public route is not forwarded", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + apiKey + "\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{absent: []string{"X-API-Key"}}},
		deny("valid key + forged JWT after a tab", req("X-API-Key: "+apiKey, "Authorization: Bearer\t"+jwtNone(goodClaims())),
			"Django REST framework and Python's str.split read Bearer<TAB>token as a bearer token"),
		{class: 6, name: "key-only route: a JWT after a tab is not forwarded", send: "GET /admin/x HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + apiKey + "\r\nAuthorization: Bearer\t" + jwtNone(goodClaims()) + "\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{absent: []string{"Authorization"}, equal: map[string]string{"X-Consumer-ID": "acme"}}},
	}
}

// hygieneCases are protocol errors raised before or outside a route
// (class 10): TRACE, malformed request lines and headers, 431, CONNECT.
func hygieneCases() []tcase {
	return []tcase{
		{class: 10, name: "TRACE", send: "TRACE /public/x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "405", code: "method_not_allowed", up: upWant{nothing: true}, anchor: "NGINX 1.22: 405 for TRACE, always"},
		{class: 10, name: "trace in lower case", send: "trace /public/x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "400", code: "bad_request", up: upWant{nothing: true}, anchor: "NGINX 1.22: 400 (client sent invalid method); Django, Werkzeug and Symfony upper-case it to TRACE"},
		{class: 10, name: "get in lower case on a protected prefix", send: "get /admin/x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "400|401", code: "*", up: upWant{nothing: true}, anchor: "NGINX 1.22: 400 (client sent invalid method)"},
		{class: 10, name: "CONNECT", send: "CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n",
			want: "405", code: "method_not_allowed", up: upWant{nothing: true}, anchor: "NGINX 1.22: 405 (since 1.21.1)"},
		{class: 10, name: "malformed request line", send: "GET /public/x HTTP/1.1 extra\r\nHost: conformance.test\r\n\r\n",
			want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: "NGINX 1.22: 400 (HTML page)"},
		{class: 10, name: "request line without version", send: "GET /public/x\r\nHost: conformance.test\r\n\r\n",
			want: "400", code: "bad_request", up: upWant{nothing: true}, anchor: "NGINX 1.22 treats it as HTTP/0.9"},
		{class: 10, name: "header name with space", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nBad Header: x\r\n\r\n",
			want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: "NGINX 1.22: 400 (since 1.21.1)"},
		{class: 10, name: "control byte in a header value", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nX-Note: a\x01b\r\n\r\n",
			want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: "RFC 9110 §5.5"},
		// Values are checked eight bytes a step (wire.ValidFieldValue):
		// a bad byte past the first word, at a word's last byte, and the
		// bytes a value may hold (HTAB, obs-text) in words of their own.
		{class: 10, name: "DEL in the second word of a header value", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nX-Note: abcdefghij\x7fk\r\n\r\n",
			want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: "RFC 9110 §5.5"},
		{class: 10, name: "control byte ending a 16-byte header value", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nX-Note: 0123456789abcde\x1f\r\n\r\n",
			want: "400", code: "bad_request", close: true, up: upWant{nothing: true}, anchor: "RFC 9110 §5.5"},
		{class: 10, name: "HTAB and obs-text in a long header value (control)", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\nX-Note: abc\tdefghijk\xe9lmnopq\r\n\r\n",
			want: "200", up: upWant{uri: "/public/x"}, anchor: "RFC 9110 §5.5: HTAB and obs-text are field-vchar or allowed inside",
			check: func(_ result, reqs []*upRequest) string {
				if len(reqs) == 1 && reqs[0].Header.Get("X-Note") != "abc\tdefghijk\xe9lmnopq" {
					return fmt.Sprintf("upstream X-Note %q, want the value as sent", reqs[0].Header.Get("X-Note"))
				}
				return ""
			}},
		{class: 10, name: "header block over max_header_bytes", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
			want: "431", code: "header_too_large", up: upWant{nothing: true}, anchor: "NGINX 1.22: 400 (Request Header Or Cookie Too Large)"},
	}
}

// h2Cases are HTTP/2 streams with prior knowledge (classes 10 and 2).
func h2Cases() []tcase {
	fields := func(method, path string, extra ...[2]string) [][2]string {
		f := [][2]string{{":method", method}, {":scheme", "http"}, {":path", path}, {":authority", "conformance.test"}}
		return append(f, extra...)
	}
	return []tcase{
		{class: 10, name: "h2 GET (control)", h2: &h2Stream{fields: fields("GET", "/public/h2")},
			want: "200", up: upWant{uri: "/public/h2"}},
		{class: 10, name: "h2 SETTINGS_MAX_CONCURRENT_STREAMS is 100", h2: &h2Stream{fields: fields("GET", "/public/h2")},
			want: "200", anchor: "NGINX 1.22: http2_max_concurrent_streams 128; Envoy: 100 in its edge best practices",
			check: func(res result, _ []*upRequest) string {
				const maxConcurrentStreams = 0x3
				if v, ok := res.Settings[maxConcurrentStreams]; !ok || v != 100 {
					return fmt.Sprintf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want 100", v, ok)
				}
				return ""
			}},
		{class: 10, name: "h2 absolute-form :path", h2: &h2Stream{fields: fields("GET", "http://evil.example/public/x")},
			want: "400|reset", up: upWant{nothing: true}, anchor: "RFC 9113 §8.3.1: malformed"},
		{class: 10, name: "h2 :path without a leading slash", h2: &h2Stream{fields: fields("GET", "public/x")},
			want: "400|reset", up: upWant{nothing: true}, anchor: "RFC 9113 §8.3.1: malformed"},
		{class: 10, name: "h2 TRACE", h2: &h2Stream{fields: fields("TRACE", "/public/x")},
			want: "405", up: upWant{nothing: true}, anchor: "NGINX 1.22: 405"},
		{class: 10, name: "h2 connection-specific header", h2: &h2Stream{fields: fields("GET", "/public/x", [2]string{"connection", "keep-alive"})},
			want: "400|reset", up: upWant{nothing: true}, anchor: "RFC 9113 §8.2.2: malformed"},
		{class: 2, name: "h2 content-length 10 with 3 bytes of DATA", h2: &h2Stream{fields: fields("POST", "/public/upload", [2]string{"content-length", "10"}), data: "abc"},
			want: "400|reset", never: []string{"2xx", "502"}, up: upWant{noComplete: true}, after: []string{"/public/after"},
			anchor: "RFC 9113 §8.1.1: malformed, stream error; NGINX 1.22: 400"},
		{class: 2, name: "h2 content-length 3 with 10 bytes of DATA", h2: &h2Stream{fields: fields("POST", "/public/upload", [2]string{"content-length", "3"}), data: "abcdefghij"},
			want: "400|reset", never: []string{"2xx", "502"}, up: upWant{noComplete: true}, after: []string{"/public/after"},
			anchor: "RFC 9113 §8.1.1: malformed, stream error"},
		{class: 2, name: "h2 POST with a body (control)", h2: &h2Stream{fields: fields("POST", "/public/upload", [2]string{"content-length", "3"}), data: "abc"},
			want: "200", up: upWant{uri: "/public/upload"}},
	}
}
