package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestIPRules: a route's ip rules see the peer (loopback here) unless it
// is a trusted proxy, and then the address it forwards; deny wins; a
// refused request is 403 forbidden before authentication and reaches no
// upstream.
func TestIPRules(t *testing.T) {
	t.Parallel()
	sections := func(e *testkit.Echo) string {
		return fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    api_keys: [{key: gk_live_acme_0123456789abcdef}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: partners
    match: {path_prefix: /partners}
    ip: {allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.9.9.9/32]}
    auth: [api_key]
    upstream: app
  - name: local
    match: {path_prefix: /local}
    ip: {allow: [127.0.0.1]}
    upstream: app
  - name: no-loopback
    match: {path_prefix: /no-loopback}
    ip: {deny: [127.0.0.0/8, "::1"]}
    upstream: app
`, e.URL)
	}
	const key = "X-API-Key: gk_live_acme_0123456789abcdef"
	tests := []struct {
		name    string
		trusted string
		path    string
		headers []string
		want    int
	}{
		{name: "untrusted peer outside allow", path: "/partners/x", headers: []string{key}, want: 403},
		{name: "untrusted peer forwarding an allowed address", path: "/partners/x", headers: []string{key, "X-Forwarded-For: 10.1.2.3"}, want: 403},
		{name: "untrusted peer without a key is refused before auth", path: "/partners/x", headers: []string{"X-Forwarded-For: 10.1.2.3"}, want: 403},
		{name: "peer in allow", path: "/local/x", headers: []string{"X-Forwarded-For: 192.0.2.1"}, want: 200},
		{name: "peer in deny", path: "/no-loopback/x", want: 403},
		{name: "trusted proxy forwards an allowed address", trusted: "127.0.0.1", path: "/partners/x", headers: []string{key, "X-Forwarded-For: 10.1.2.3"}, want: 200},
		{name: "trusted proxy forwards an allowed v6 address", trusted: "127.0.0.1", path: "/partners/x", headers: []string{key, "X-Forwarded-For: 2001:db8::5"}, want: 200},
		{name: "allowed address without a key still needs auth", trusted: "127.0.0.1", path: "/partners/x", headers: []string{"X-Forwarded-For: 10.1.2.3"}, want: 401},
		{name: "trusted proxy forwards a denied address", trusted: "127.0.0.1", path: "/partners/x", headers: []string{key, "X-Forwarded-For: 10.9.9.9"}, want: 403},
		{name: "allowed address planted left of the client", trusted: "127.0.0.1", path: "/partners/x", headers: []string{key, "X-Forwarded-For: 10.1.2.3, 198.51.100.7"}, want: 403},
		{name: "trusted proxy: the client, not the proxy, is checked", trusted: "127.0.0.1", path: "/local/x", headers: []string{"X-Forwarded-For: 192.0.2.1"}, want: 403},
		{name: "trusted proxy: deny sees the forwarded client", trusted: "127.0.0.1", path: "/no-loopback/x", headers: []string{"X-Forwarded-For: 192.0.2.1"}, want: 200},
	}
	gateways := map[string]*testkit.Gantry{}
	echoes := map[string]*testkit.Echo{}
	for _, trusted := range []string{"", "127.0.0.1"} {
		e := testkit.NewEcho(t, "app")
		server := ""
		if trusted != "" {
			server = fmt.Sprintf("  trusted_proxies: [%q]", trusted)
		}
		gateways[trusted], echoes[trusted] = testkit.Start(t, baseWith(server, sections(e))), e
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, e := gateways[tt.trusted], echoes[tt.trusted]
			before := e.Count()
			r := get(t, g.URL+tt.path, tt.headers...)
			if r.Status != tt.want {
				t.Fatalf("GET %s %v: %d %q, want %d", tt.path, tt.headers, r.Status, r.Body, tt.want)
			}
			if tt.want == http.StatusForbidden {
				if e := r.gwError(t); e.Error != "forbidden" {
					t.Errorf("error %q, want forbidden", e.Error)
				}
				if n := e.Count() - before; n != 0 {
					t.Errorf("the upstream got %d requests, want none", n)
				}
			}
		})
	}
}
