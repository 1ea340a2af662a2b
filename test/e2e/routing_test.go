package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// routingConfig has one echo upstream per route so the answer names the route.
func routingConfig(t *testing.T) string {
	names := []string{"exact", "param", "prefix", "longprefix", "hosted", "wildcard", "tenant", "v1", "v2", "anyver", "rest", "rewrite", "strip"}
	var ups strings.Builder
	for _, n := range names {
		e := testkit.NewEcho(t, n)
		fmt.Fprintf(&ups, "  %s:\n    targets: [{url: %q}]\n", n, e.URL)
	}
	return base(`versioning:
  from: [path, header:API-Version, query:version]
upstreams:
` + ups.String() + `
routes:
  - name: exact
    match: {path: /users/me, methods: [GET]}
    upstream: exact
  - name: param
    match: {path: "/users/{id}", methods: [GET, PUT]}
    upstream: param
  - name: prefix
    match: {path_prefix: /users}
    upstream: prefix
  - name: longprefix
    match: {path_prefix: /users/admin/tools}
    upstream: longprefix
  - name: hosted
    match: {path: "/users/{id}", hosts: [api.example.com]}
    upstream: hosted
  - name: wildcard
    match: {path_prefix: /users, hosts: ["*.example.org"]}
    upstream: wildcard
  - name: tenant
    match: {path: "/users/{id}", headers: {X-Tenant: acme}}
    upstream: tenant
  - name: orders-v1
    match: {path_prefix: /orders, version: v1}
    upstream: v1
  - name: orders-v2
    match: {path_prefix: /orders, version: v2}
    upstream: v2
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: anyver
  - name: files
    match: {path: "/files/{path...}"}
    upstream: rest
  - name: accounts
    match: {path: "/accounts/{id}/profile"}
    upstream: rewrite
    rewrite: /v3/profiles/{id}
  - name: legacy
    match: {path_prefix: /legacy}
    upstream: strip
    strip_prefix: /legacy
    request_headers: {set: {X-Gateway: gantry}, remove: [X-Debug]}
    response_headers: {remove: [X-Upstream], set: {X-Served-By: gantry}}
`)
}

func TestRoutingPrecedence(t *testing.T) {
	g := testkit.Start(t, routingConfig(t))
	tests := []struct {
		name     string
		method   string
		path     string
		headers  []string
		upstream string
		upPath   string
	}{
		{"exact beats param", "GET", "/users/me", nil, "exact", "/users/me"},
		{"param beats prefix", "GET", "/users/42", nil, "param", "/users/42"},
		{"prefix catches deeper paths", "GET", "/users/42/orders", nil, "prefix", "/users/42/orders"},
		{"longer prefix first", "GET", "/users/admin/tools/x", nil, "longprefix", "/users/admin/tools/x"},
		{"prefix stops at segment boundary", "GET", "/usersX", nil, "", ""},
		{"host route beats hostless", "GET", "/users/42", []string{"Host: api.example.com"}, "hosted", "/users/42"},
		{"host matched without port", "GET", "/users/42", []string{"Host: API.example.com:8443"}, "hosted", "/users/42"},
		{"wildcard host beats exact path elsewhere", "GET", "/users/me", []string{"Host: eu.example.org"}, "wildcard", "/users/me"},
		{"wildcard needs a label", "GET", "/users/me", []string{"Host: example.org"}, "exact", "/users/me"},
		{"header match", "GET", "/users/42", []string{"X-Tenant: acme"}, "tenant", "/users/42"},
		{"header mismatch falls back", "GET", "/users/42", []string{"X-Tenant: globex"}, "param", "/users/42"},
		{"version from path", "GET", "/v2/orders/7", nil, "v2", "/orders/7"},
		{"version from header", "GET", "/orders/7", []string{"API-Version: v2"}, "v2", "/orders/7"},
		{"version from query", "GET", "/orders/7?version=v1", nil, "v1", "/orders/7"},
		{"path version wins over header", "GET", "/v1/orders/7", []string{"API-Version: v2"}, "v1", "/orders/7"},
		{"versionless route serves any version", "GET", "/v9/catalog/items", nil, "anyver", "/catalog/items"},
		{"catch-all param", "GET", "/files/a/b/c.txt", nil, "rest", "/files/a/b/c.txt"},
		{"rewrite with param", "GET", "/accounts/17/profile?full=1", nil, "rewrite", "/v3/profiles/17"},
		{"strip prefix", "GET", "/legacy/reports/9", nil, "strip", "/reports/9"},
		{"strip prefix to root", "GET", "/legacy", nil, "strip", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, g.URL+tt.path, "", tt.headers...)
			if tt.upstream == "" {
				if r.Status != http.StatusNotFound {
					t.Fatalf("status = %d, want 404 (body %s)", r.Status, r.Body)
				}
				return
			}
			if r.Status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", r.Status, r.Body)
			}
			if got := r.Header.Get("X-Upstream"); got != tt.upstream && tt.upstream != "strip" {
				t.Fatalf("served by %q, want %q", got, tt.upstream)
			}
			if got := r.seen(t).Path; got != tt.upPath {
				t.Fatalf("upstream path = %q, want %q", got, tt.upPath)
			}
		})
	}
}

func TestRoutingNoVersionMatch(t *testing.T) {
	g := testkit.Start(t, routingConfig(t))
	// A version no route serves: orders has only v1 and v2.
	r := get(t, g.URL+"/v3/orders/7")
	if r.Status != http.StatusNotFound {
		t.Fatalf("status = %d, want 404", r.Status)
	}
	if e := r.gwError(t); e.Error != "not_found" {
		t.Fatalf("error = %q, want not_found", e.Error)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	g := testkit.Start(t, routingConfig(t))
	r := get(t, g.URL+"/nothing/here")
	if r.Status != 404 {
		t.Fatalf("status = %d, want 404", r.Status)
	}
	e := r.gwError(t)
	if e.Error != "not_found" || e.RequestID != r.Header.Get("X-Request-ID") {
		t.Fatalf("404 body = %+v, X-Request-ID %q", e, r.Header.Get("X-Request-ID"))
	}

	r = do(t, "DELETE", g.URL+"/users/me", "")
	// /users/me: exact GET only, param GET/PUT, and the prefix /users takes
	// every method, so DELETE falls through to the prefix route.
	if r.Status != 200 || r.Header.Get("X-Upstream") != "prefix" {
		t.Fatalf("DELETE /users/me = %d via %q, want 200 via prefix", r.Status, r.Header.Get("X-Upstream"))
	}
	r = do(t, "POST", g.URL+"/files/x", "") // files has no method list: any method
	if r.Status != 200 {
		t.Fatalf("POST /files/x = %d, want 200", r.Status)
	}
}

func TestMethodNotAllowedAllow(t *testing.T) {
	e := testkit.NewEcho(t, "users")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  users: {targets: [{url: %q}]}
routes:
  - name: read
    match: {path: "/users/{id}", methods: [GET]}
    upstream: users
  - name: write
    match: {path: "/users/{id}", methods: [PUT, DELETE]}
    upstream: users
`, e.URL)))
	r := do(t, "POST", g.URL+"/users/1", "x")
	if r.Status != 405 {
		t.Fatalf("status = %d, want 405", r.Status)
	}
	if e := r.gwError(t); e.Error != "method_not_allowed" {
		t.Fatalf("error = %q", e.Error)
	}
	allow := r.Header.Get("Allow")
	for _, m := range []string{"GET", "HEAD", "PUT", "DELETE"} {
		if !strings.Contains(allow, m) {
			t.Fatalf("Allow = %q, missing %s", allow, m)
		}
	}
	if strings.Contains(allow, "POST") {
		t.Fatalf("Allow = %q lists POST", allow)
	}
	if r := do(t, "HEAD", g.URL+"/users/1", ""); r.Status != 200 {
		t.Fatalf("HEAD on a GET route = %d, want 200", r.Status)
	}
	if e.Count() != 1 {
		t.Fatalf("upstream saw %d requests, want 1 (the HEAD)", e.Count())
	}
}

func TestHeaderRules(t *testing.T) {
	g := testkit.Start(t, routingConfig(t))
	r := get(t, g.URL+"/legacy/x", "X-Debug: 1", "X-Keep: yes", "Connection: X-Gateway")
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	s := r.seen(t)
	h := http.Header(s.Header)
	if h.Get("X-Gateway") != "gantry" {
		t.Fatalf("upstream X-Gateway = %q, want gantry (even when named in Connection)", h.Get("X-Gateway"))
	}
	if h.Get("X-Debug") != "" || h.Get("X-Keep") != "yes" {
		t.Fatalf("upstream headers X-Debug=%q X-Keep=%q", h.Get("X-Debug"), h.Get("X-Keep"))
	}
	if r.Header.Get("X-Upstream") != "" || r.Header.Get("X-Served-By") != "gantry" {
		t.Fatalf("response headers X-Upstream=%q X-Served-By=%q", r.Header.Get("X-Upstream"), r.Header.Get("X-Served-By"))
	}
}
