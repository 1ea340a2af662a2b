package conformance

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// accessGateway serves one route behind ip rules that admit 10.0.0.0/8
// but not 10.9.9.9, and one public route. trusted is its
// server.trusted_proxies line ("" for none).
func accessGateway(t *testing.T, trusted string) *gateway {
	up := newScripted(t, nil)
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  %s
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: partners
    match: {path_prefix: /partners}
    ip: {allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.9.9.9/32]}
    upstream: app
  - name: public
    match: {path_prefix: /}
    upstream: app
`, trusted, up.URL()))
	return &gateway{Gantry: g, up: up, upstream: "app"}
}

func partnersReq(headers string) string {
	return "GET /partners/x HTTP/1.1\r\nHost: conformance.test\r\n" + headers + "Connection: close\r\n\r\n"
}

// TestIPRulesUntrustedPeer: a peer that is not a trusted proxy cannot
// choose its address with forwarding headers (class 9): whatever
// X-Forwarded-For, Forwarded or X-Real-IP say, the rules see the peer
// (127.0.0.1), which allow does not list.
func TestIPRulesUntrustedPeer(t *testing.T) {
	t.Parallel()
	g := accessGateway(t, "")
	deny := func(name, headers, anchor string) tcase {
		return tcase{class: 9, name: name, send: partnersReq(headers), want: "403", code: "forbidden", up: upWant{nothing: true}, anchor: anchor}
	}
	g.run(t, []tcase{
		deny("no forwarding header", "", ""),
		deny("X-Forwarded-For with an allowed address", "X-Forwarded-For: 10.1.2.3\r\n",
			"NGINX allow/deny use $remote_addr unless set_real_ip_from lists the peer"),
		deny("X-Forwarded-For with two allowed addresses", "X-Forwarded-For: 10.1.2.3, 10.4.5.6\r\n", ""),
		deny("Forwarded for= an allowed address", "Forwarded: for=10.1.2.3\r\n", ""),
		deny("X-Real-IP with an allowed address", "X-Real-IP: 10.1.2.3\r\n", ""),
		{class: 9, name: "public route (control)", send: "GET /public/x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n", want: "200"},
	}, false)
}

// TestIPRulesTrustedProxy: behind a trusted proxy (the test's loopback
// peer) the rules see the right-most untrusted X-Forwarded-For hop, and
// only that one: an allowed address planted further left is ignored.
func TestIPRulesTrustedProxy(t *testing.T) {
	t.Parallel()
	g := accessGateway(t, `trusted_proxies: ["127.0.0.1"]`)
	deny := func(name, headers string) tcase {
		return tcase{class: 9, name: name, send: partnersReq(headers), want: "403", code: "forbidden", up: upWant{nothing: true}}
	}
	g.run(t, []tcase{
		{class: 9, name: "forwarded allowed address", send: partnersReq("X-Forwarded-For: 10.1.2.3\r\n"), want: "200"},
		{class: 9, name: "forwarded allowed v6 address", send: partnersReq("X-Forwarded-For: 2001:db8::7\r\n"), want: "200"},
		deny("forwarded denied address inside allow", "X-Forwarded-For: 10.9.9.9\r\n"),
		deny("forwarded address outside allow", "X-Forwarded-For: 192.0.2.1\r\n"),
		deny("allowed address planted left of the client", "X-Forwarded-For: 10.1.2.3, 192.0.2.1\r\n"),
		deny("no forwarding header: the proxy itself", ""),
		deny("garbage hop", "X-Forwarded-For: 10.1.2.3, not-an-address\r\n"),
	}, false)
}
