package router

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/google/go-cmp/cmp"
)

// route builds a config.Route; opts adjust it.
func route(name string, m config.Match, opts ...func(*config.Route)) *config.Route {
	rc := &config.Route{Name: name, Match: m, Upstream: "users"}
	for _, o := range opts {
		o(rc)
	}
	return rc
}

func mustCompile(t testing.TB, cfg *config.Config) *Table {
	t.Helper()
	tbl, err := Compile(cfg, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

// request is what a matchCase sends; the zero value is GET with no
// headers.
type request struct {
	method string
	host   string
	path   string
	header http.Header
	query  string
}

func (rq request) http() *http.Request {
	m := rq.method
	if m == "" {
		m = http.MethodGet
	}
	return &http.Request{Method: m, URL: &url.URL{Path: rq.path, RawQuery: rq.query}, Header: rq.header, Host: rq.host}
}

type matchCase struct {
	name string
	req  request
	// route is the name of the route that must match; "" expects status.
	route   string
	status  int
	allow   string
	params  []pipeline.Param
	path    string // Result.Path; "" means req.path
	version string
}

func runMatch(t *testing.T, tbl *Table, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := tbl.Match(tt.req.http(), tt.req.host, tt.req.path)
			got := ""
			if res.Route != nil {
				got = res.Route.Name
			}
			if got != tt.route {
				t.Fatalf("Match(%s %s%s).Route = %q (status %d, allow %q), want %q", tt.req.method, tt.req.host, tt.req.path, got, res.Status, res.Allow, tt.route)
			}
			wantStatus := tt.status
			if tt.route == "" && wantStatus == 0 {
				wantStatus = http.StatusNotFound
			}
			if res.Status != wantStatus {
				t.Errorf("Status = %d, want %d", res.Status, wantStatus)
			}
			if res.Allow != tt.allow {
				t.Errorf("Allow = %q, want %q", res.Allow, tt.allow)
			}
			if diff := cmp.Diff(tt.params, res.Params); diff != "" {
				t.Errorf("Params (-want +got):\n%s", diff)
			}
			wantPath := tt.path
			if wantPath == "" {
				wantPath = tt.req.path
			}
			if res.Path != wantPath {
				t.Errorf("Path = %q, want %q", res.Path, wantPath)
			}
			if res.Version != tt.version {
				t.Errorf("Version = %q, want %q", res.Version, tt.version)
			}
		})
	}
}

func param(name, value string) []pipeline.Param {
	return []pipeline.Param{{Name: name, Value: value}}
}

func TestMatchHosts(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("any", config.Match{PathPrefix: "/"}),
		route("wild", config.Match{Hosts: []string{"*.example.com"}, PathPrefix: "/"}),
		route("wild-eu", config.Match{Hosts: []string{"*.eu.example.com"}, PathPrefix: "/"}),
		route("api", config.Match{Hosts: []string{"API.example.com"}, PathPrefix: "/"}),
		route("api-users", config.Match{Hosts: []string{"api.example.com", "api.example.org"}, Path: "/users"}),
		route("any-users", config.Match{Path: "/users"}),
		route("shop-only", config.Match{Hosts: []string{"shop.example.net"}, Path: "/cart"}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "exact host beats wildcard and none", req: request{host: "api.example.com", path: "/x"}, route: "api"},
		{name: "host route beats more specific path without host", req: request{host: "api.example.com", path: "/users"}, route: "api-users"},
		{name: "second host of a route", req: request{host: "api.example.org", path: "/users"}, route: "api-users"},
		{name: "wildcard one label", req: request{host: "www.example.com", path: "/x"}, route: "wild"},
		{name: "wildcard several labels", req: request{host: "a.b.example.com", path: "/x"}, route: "wild"},
		{name: "longer wildcard wins", req: request{host: "paris.eu.example.com", path: "/x"}, route: "wild-eu"},
		{name: "wildcard does not match bare domain", req: request{host: "example.com", path: "/x"}, route: "any"},
		{name: "wildcard suffix must be at a label", req: request{host: "badexample.com", path: "/x"}, route: "any"},
		{name: "trailing dot ignored", req: request{host: "api.example.com.", path: "/x"}, route: "api"},
		{name: "unknown host falls back to no-host routes", req: request{host: "other.test", path: "/users"}, route: "any-users"},
		{name: "empty host", req: request{host: "", path: "/users"}, route: "any-users"},
		{name: "host bucket miss falls through to any", req: request{host: "shop.example.net", path: "/users"}, route: "any-users"},
		{name: "host-only path on other host", req: request{host: "api.example.com", path: "/cart"}, route: "api"},
	})
}

func TestMatchPathPrecedence(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("prefix-root", config.Match{PathPrefix: "/"}),
		route("prefix-users", config.Match{PathPrefix: "/users"}),
		route("prefix-users-slash", config.Match{PathPrefix: "/users/"}),
		route("prefix-users-admin", config.Match{PathPrefix: "/users/admin"}),
		route("catch-users", config.Match{Path: "/users/{rest...}"}),
		route("param-user", config.Match{Path: "/users/{id}"}),
		route("exact-me", config.Match{Path: "/users/me"}),
		route("param-orders", config.Match{Path: "/users/{id}/orders"}),
		route("lit-then-param", config.Match{Path: "/users/me/{tab}"}),
		route("param-then-lit", config.Match{Path: "/users/{id}/settings"}),
		route("params-2", config.Match{Path: "/users/{id}/{tab}"}),
		route("orders-prefix", config.Match{PathPrefix: "/orders"}),
		route("static-files", config.Match{PathPrefix: "/static/"}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "exact beats param", req: request{path: "/users/me"}, route: "exact-me"},
		{name: "param beats catch-all and prefix", req: request{path: "/users/7"}, route: "param-user", params: param("id", "7")},
		{name: "catch-all beats prefix", req: request{path: "/users/7/a/b"}, route: "catch-users", params: param("rest", "7/a/b")},
		{name: "longer literal path", req: request{path: "/users/7/orders"}, route: "param-orders", params: param("id", "7")},
		{name: "literal segment earlier wins", req: request{path: "/users/me/settings"}, route: "lit-then-param", params: param("tab", "settings")},
		{name: "param then literal beats two params", req: request{path: "/users/7/settings"}, route: "param-then-lit", params: param("id", "7")},
		{name: "two params", req: request{path: "/users/7/profile"}, route: "params-2", params: []pipeline.Param{{Name: "id", Value: "7"}, {Name: "tab", Value: "profile"}}},
		{name: "backtracks from literal to param", req: request{path: "/users/me/a/b"}, route: "catch-users", params: param("rest", "me/a/b")},
		{name: "longer prefix wins over catch-all miss", req: request{path: "/users/admin"}, route: "param-user", params: param("id", "admin")},
		{name: "prefix exactly", req: request{path: "/users"}, route: "prefix-users"},
		{name: "trailing-slash prefix beats plain", req: request{path: "/users/"}, route: "prefix-users-slash"},
		{name: "prefix at segment boundary only", req: request{path: "/usersX"}, route: "prefix-root"},
		{name: "root prefix", req: request{path: "/"}, route: "prefix-root"},
		{name: "prefix boundary orders", req: request{path: "/orders"}, route: "orders-prefix"},
		{name: "prefix boundary orders slash", req: request{path: "/orders/"}, route: "orders-prefix"},
		{name: "prefix boundary orders child", req: request{path: "/orders/7/items"}, route: "orders-prefix"},
		{name: "prefix boundary not ordersX", req: request{path: "/ordersX"}, route: "prefix-root"},
		{name: "slash prefix needs the slash", req: request{path: "/static"}, route: "prefix-root"},
		{name: "slash prefix matches itself", req: request{path: "/static/"}, route: "static-files"},
		{name: "slash prefix matches under", req: request{path: "/static/css/app.css"}, route: "static-files"},
	})
}

func TestMatchLongestPrefix(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("api", config.Match{PathPrefix: "/api"}),
		route("api-v1-admin", config.Match{PathPrefix: "/api/v1/admin"}),
		route("api-v1", config.Match{PathPrefix: "/api/v1"}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "deepest", req: request{path: "/api/v1/admin/users"}, route: "api-v1-admin"},
		{name: "middle", req: request{path: "/api/v1/users"}, route: "api-v1"},
		{name: "middle backtrack", req: request{path: "/api/v1/adminx"}, route: "api-v1"},
		{name: "shallow", req: request{path: "/api/v2"}, route: "api"},
		{name: "none", req: request{path: "/apiv1"}},
		{name: "none at root", req: request{path: "/"}},
	})
}

func TestMatchMethods(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("users-read", config.Match{Path: "/users/{id}", Methods: []string{"GET"}}),
		route("users-write", config.Match{Path: "/users/{uid}", Methods: []string{"PUT", "DELETE"}}),
		route("users-head", config.Match{Path: "/users/{id}/avatar", Methods: []string{"GET"}}),
		route("avatar-head", config.Match{Path: "/users/{id}/avatar", Methods: []string{"HEAD"}}),
		route("orders-post", config.Match{PathPrefix: "/orders", Methods: []string{"POST"}}),
		route("orders-any", config.Match{PathPrefix: "/orders/"}),
		route("ping", config.Match{Path: "/ping", Methods: []string{"GET"}}),
		route("ping-tenant", config.Match{Path: "/ping", Methods: []string{"POST"}, Headers: map[string]string{"X-Tenant": "acme"}}),
		route("search", config.Match{Path: "/search", Methods: []string{"POST"}}),
		route("search-fallback", config.Match{PathPrefix: "/search"}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "GET", req: request{path: "/users/7"}, route: "users-read", params: param("id", "7")},
		{name: "same shape other route by method", req: request{method: "PUT", path: "/users/7"}, route: "users-write", params: param("uid", "7")},
		{name: "HEAD served by GET route", req: request{method: "HEAD", path: "/users/7"}, route: "users-read", params: param("id", "7")},
		{name: "explicit HEAD beats implied", req: request{method: "HEAD", path: "/users/7/avatar"}, route: "avatar-head", params: param("id", "7")},
		{name: "405 union of allowed methods", req: request{method: "POST", path: "/users/7"}, status: 405, allow: "DELETE, GET, HEAD, PUT"},
		{name: "405 with method case kept", req: request{method: "get", path: "/users/7"}, status: 405, allow: "DELETE, GET, HEAD, PUT"},
		{name: "405 on exact path", req: request{method: "DELETE", path: "/ping"}, status: 405, allow: "GET, HEAD"},
		{name: "header mismatch gives no 405 contribution", req: request{method: "PUT", path: "/ping"}, status: 405, allow: "GET, HEAD"},
		{name: "header match adds its methods", req: request{method: "PUT", path: "/ping", header: http.Header{"X-Tenant": {"acme"}}}, status: 405, allow: "GET, HEAD, POST"},
		{name: "header match serves", req: request{method: "POST", path: "/ping", header: http.Header{"X-Tenant": {"acme"}}}, route: "ping-tenant"},
		{name: "lower precedence route serves the method", req: request{method: "GET", path: "/orders/7"}, route: "orders-any"},
		{name: "prefix method", req: request{method: "POST", path: "/orders"}, route: "orders-post"},
		{name: "405 on prefix", req: request{method: "GET", path: "/orders"}, status: 405, allow: "POST"},
		{name: "all-methods fallback beats 405", req: request{method: "GET", path: "/search"}, route: "search-fallback"},
		{name: "404", req: request{path: "/nowhere"}},
		{name: "TRACE on a route listing no methods", req: request{method: "TRACE", path: "/orders/7"}, status: 405, allow: "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"},
		{name: "TRACE where routes list methods", req: request{method: "TRACE", path: "/search"}, status: 405, allow: "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"},
		{name: "TRACE on a listed route", req: request{method: "TRACE", path: "/ping"}, status: 405, allow: "GET, HEAD"},
		{name: "other methods on a route listing none", req: request{method: "PURGE", path: "/orders/7"}, route: "orders-any"},
	})
}

func TestMatchHeaders(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("plain", config.Match{Path: "/reports"}),
		route("tenant", config.Match{Path: "/reports", Headers: map[string]string{"x-tenant": "acme"}}),
		route("tenant-beta", config.Match{Path: "/reports", Headers: map[string]string{"X-Tenant": "acme", "X-Beta": "1"}}),
		route("only-tenant", config.Match{Path: "/exports", Headers: map[string]string{"X-Tenant": "acme"}}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "no header", req: request{path: "/reports"}, route: "plain"},
		{name: "header beats no header despite config order", req: request{path: "/reports", header: http.Header{"X-Tenant": {"acme"}}}, route: "tenant"},
		{name: "more headers first", req: request{path: "/reports", header: http.Header{"X-Tenant": {"acme"}, "X-Beta": {"1"}}}, route: "tenant-beta"},
		{name: "value is exact", req: request{path: "/reports", header: http.Header{"X-Tenant": {"Acme"}}}, route: "plain"},
		{name: "first value compared", req: request{path: "/reports", header: http.Header{"X-Tenant": {"globex", "acme"}}}, route: "plain"},
		{name: "header mismatch is 404 not 405", req: request{path: "/exports", header: http.Header{"X-Tenant": {"globex"}}}},
		{name: "header match", req: request{path: "/exports", header: http.Header{"X-Tenant": {"acme"}}}, route: "only-tenant"},
	})
}

func TestMatchConfigOrder(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("first", config.Match{Path: "/a/{x}", Headers: map[string]string{"X-Beta": "1"}}),
		route("second", config.Match{Path: "/a/{y}", Headers: map[string]string{"X-Tenant": "acme"}}),
	}})
	both := http.Header{"X-Beta": {"1"}, "X-Tenant": {"acme"}}
	runMatch(t, tbl, []matchCase{
		{name: "first in config order", req: request{path: "/a/1", header: both}, route: "first", params: param("x", "1")},
		{name: "second on its own header", req: request{path: "/a/1", header: http.Header{"X-Tenant": {"acme"}}}, route: "second", params: param("y", "1")},
	})
}

func TestMatchVersions(t *testing.T) {
	t.Parallel()
	routes := []*config.Route{
		route("orders-v1", config.Match{PathPrefix: "/orders", Version: "v1"}),
		route("orders-v2", config.Match{PathPrefix: "/orders", Version: "V2"}),
		route("orders", config.Match{PathPrefix: "/orders"}),
		route("health", config.Match{Path: "/health"}),
		route("beta", config.Match{Path: "/beta", Version: "v2.1"}),
	}
	tbl := mustCompile(t, &config.Config{
		Versioning: &config.Versioning{From: []string{"path", "header:api-version", "query:version"}, Default: "v1"},
		Routes:     routes,
	})
	h := func(v string) http.Header { return http.Header{"Api-Version": {v}} }
	runMatch(t, tbl, []matchCase{
		{name: "default version", req: request{path: "/orders/7"}, route: "orders-v1", version: "v1"},
		{name: "path version removed", req: request{path: "/v2/orders/7"}, route: "orders-v2", path: "/orders/7", version: "v2"},
		{name: "path version upper case", req: request{path: "/V2/orders"}, route: "orders-v2", path: "/orders", version: "v2"},
		{name: "version alone gives root", req: request{path: "/v2"}, path: "/", version: "v2"},
		{name: "version with trailing slash", req: request{path: "/v2/"}, path: "/", version: "v2"},
		{name: "dotted path version", req: request{path: "/v2.1/beta"}, route: "beta", path: "/beta", version: "v2.1"},
		{name: "not a version segment", req: request{path: "/v2x/orders"}, version: "v1"},
		{name: "v alone is not a version", req: request{path: "/v/orders"}, version: "v1"},
		{name: "dangling dot is not a version", req: request{path: "/v2./orders"}, version: "v1"},
		{name: "header version", req: request{path: "/orders/7", header: h("v2")}, route: "orders-v2", version: "v2"},
		{name: "header version case-insensitive", req: request{path: "/orders/7", header: h("V2")}, route: "orders-v2", version: "v2"},
		{name: "path beats header", req: request{path: "/v1/orders", header: h("v2")}, route: "orders-v1", path: "/orders", version: "v1"},
		{name: "query version", req: request{path: "/orders", query: "a=1&version=v2"}, route: "orders-v2", version: "v2"},
		{name: "query version escaped", req: request{path: "/orders", query: "ver%73ion=%76%32"}, route: "orders-v2", version: "v2"},
		{name: "header beats query", req: request{path: "/orders", header: h("v1"), query: "version=v2"}, route: "orders-v1", version: "v1"},
		{name: "empty header falls through", req: request{path: "/orders", header: h(""), query: "version=v2"}, route: "orders-v2", version: "v2"},
		{name: "unknown version served by versionless route", req: request{path: "/v9/orders"}, route: "orders", path: "/orders", version: "v9"},
		{name: "versionless route serves every version", req: request{path: "/v2/health"}, route: "health", path: "/health", version: "v2"},
		{name: "version route is exact about its version", req: request{path: "/beta"}, version: "v1"},
	})

	noDefault := mustCompile(t, &config.Config{
		Versioning: &config.Versioning{From: []string{"header:API-Version"}},
		Routes:     routes,
	})
	runMatch(t, noDefault, []matchCase{
		{name: "no source and no default", req: request{path: "/orders"}, route: "orders"},
		{name: "path not a source keeps segment", req: request{path: "/v2/orders"}},
		{name: "header only", req: request{path: "/orders", header: h("v2")}, route: "orders-v2", version: "v2"},
	})

	plain := mustCompile(t, &config.Config{Routes: routes[2:4]})
	runMatch(t, plain, []matchCase{
		{name: "without versioning the path is kept", req: request{path: "/v2/orders"}},
		{name: "without versioning no version", req: request{path: "/orders", header: h("v2")}, route: "orders"},
	})
}

func TestMatchVersionPrecedence(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{
		Versioning: &config.Versioning{From: []string{"path"}, Default: "v1"},
		Routes: []*config.Route{
			route("users", config.Match{Path: "/users/{id}"}),
			route("users-v2", config.Match{Path: "/users/{id}", Version: "v2"}),
			route("users-v2-tenant", config.Match{Path: "/users/{id}", Headers: map[string]string{"X-Tenant": "acme"}}),
			route("users-v1-get", config.Match{Path: "/users/{id}", Methods: []string{"GET"}, Version: "v1"}),
		},
	})
	runMatch(t, tbl, []matchCase{
		{name: "version route beats versionless", req: request{path: "/v2/users/1"}, route: "users-v2", path: "/users/1", version: "v2", params: param("id", "1")},
		{name: "version beats headers", req: request{path: "/v2/users/1", header: http.Header{"X-Tenant": {"acme"}}}, route: "users-v2", path: "/users/1", version: "v2", params: param("id", "1")},
		{name: "headers beat plain", req: request{path: "/v3/users/1", header: http.Header{"X-Tenant": {"acme"}}}, route: "users-v2-tenant", path: "/users/1", version: "v3", params: param("id", "1")},
		{name: "default version route", req: request{path: "/users/1"}, route: "users-v1-get", version: "v1", params: param("id", "1")},
		{name: "version route method miss falls back", req: request{method: "POST", path: "/users/1"}, route: "users", version: "v1", params: param("id", "1")},
	})
}

func TestMatchOddInput(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("root", config.Match{Path: "/"}),
		route("files", config.Match{Path: "/files/{p...}"}),
	}})
	runMatch(t, tbl, []matchCase{
		{name: "empty path", req: request{path: ""}},
		{name: "relative path", req: request{path: "files/a"}},
		{name: "root", req: request{path: "/"}, route: "root"},
		{name: "catch-all needs a rest", req: request{path: "/files/"}},
		{name: "catch-all keeps slashes", req: request{path: "/files/a//b"}, route: "files", params: param("p", "a//b")},
	})
	if res := tbl.Match(nil, "", "/"); res.Route == nil || res.Route.Name != "root" {
		t.Errorf("Match(nil request) = %+v, want route root", res)
	}
}

// FuzzMatch sends arbitrary paths to a fixed table: Match never panics, a
// matched pattern gives back the path from its parameters, and a matched
// prefix is a segment prefix of the path.
func FuzzMatch(f *testing.F) {
	tbl, err := Compile(&config.Config{
		Versioning: &config.Versioning{From: []string{"path", "query:version"}, Default: "v1"},
		Routes: []*config.Route{
			route("users", config.Match{Path: "/users/{id}", Methods: []string{"GET"}}, func(rc *config.Route) { rc.Rewrite = "/accounts/{id}" }),
			route("user-orders", config.Match{Path: "/users/{id}/orders/{order}"}),
			route("files", config.Match{Path: "/files/{bucket}/{key...}"}, func(rc *config.Route) { rc.Rewrite = "/b/{bucket}/{key...}" }),
			route("root-catch", config.Match{Path: "/x/{all...}", Version: "v2"}),
			route("me", config.Match{Path: "/users/me"}),
			route("deep", config.Match{Path: "/a/{x}/b/{y}"}),
			route("deep-lit", config.Match{Path: "/a/lit/{z}/c"}),
			route("deep-rest", config.Match{Path: "/a/{x}/b/{y}/{rest...}"}),
			route("nine", config.Match{Path: "/n/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"}),
			route("orders", config.Match{PathPrefix: "/orders"}, func(rc *config.Route) { rc.StripPrefix = "/orders" }),
			route("static", config.Match{PathPrefix: "/static/", Hosts: []string{"*.example.com"}}),
		},
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/users/7", "/v2/x/a/b", "/files/b/k/e/y", "/orders/1", "/static/a", "/", "", "/users//orders/", "/v1", "users",
		"/users/me/orders/5", "/a/lit/b/2", "/a/lit/q/c", "/a/lit/b/2/3/4", "/n/1/2/3/4/5/6/7/8/9"} {
		f.Add(s, "GET", "www.example.com")
	}
	f.Fuzz(func(t *testing.T, path, method, host string) {
		r := &http.Request{Method: method, URL: &url.URL{RawQuery: "version=" + method}, Header: http.Header{}}
		res := tbl.Match(r, host, path)
		switch {
		case res.Route == nil:
			if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
				t.Fatalf("Match(%q) status = %d without a route", path, res.Status)
			}
			return
		case res.Status != 0:
			t.Fatalf("Match(%q) status = %d with route %s", path, res.Status, res.Route.Name)
		case res.Route.Pattern != nil:
			if got := res.Route.Pattern.Expand(res.Params); got != res.Path {
				t.Fatalf("route %s on %q: Expand(%v) = %q, want %q", res.Route.Name, path, res.Params, got, res.Path)
			}
			// The values the trie walk kept are what parsing the path
			// with the chosen pattern gives.
			want := make([]pipeline.Param, len(res.Params))
			if !res.Route.Pattern.match(res.Path, want) || !slices.Equal(res.Params, want) {
				t.Fatalf("route %s on %q: params %v, the pattern parses %v", res.Route.Name, path, res.Params, want)
			}
		default:
			px := res.Route.fwd.prefix
			inside := hasSegmentPrefix(res.Path, px.String())
			if px.slash {
				inside = strings.HasPrefix(res.Path, px.String())
			}
			if !inside {
				t.Fatalf("route %s on %q: path %q outside prefix %q", res.Route.Name, path, res.Path, res.Route.Prefix())
			}
		}
		if fp := res.Route.ForwardPath(&res); fp == "" || fp[0] != '/' {
			t.Fatalf("route %s on %q: ForwardPath = %q", res.Route.Name, path, fp)
		}
	})
}

// TestMatchManyChildren crosses the point where a trie node's literal
// children move from a short list to a map, for patterns and prefixes.
func TestMatchManyChildren(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, fewEdges, fewEdges + 1, 3 * fewEdges} {
		t.Run(fmt.Sprintf("children=%d", n), func(t *testing.T) {
			t.Parallel()
			var routes []*config.Route
			for i := range n {
				routes = append(routes,
					route(fmt.Sprintf("user%d", i), config.Match{Path: fmt.Sprintf("/svc%d/users/{id}", i)}),
					route(fmt.Sprintf("assets%d", i), config.Match{PathPrefix: fmt.Sprintf("/svc%d/assets/", i)}))
			}
			tbl := mustCompile(t, &config.Config{Routes: routes})
			var tests []matchCase
			for i := range n {
				tests = append(tests,
					matchCase{name: fmt.Sprintf("pattern %d", i), req: request{path: fmt.Sprintf("/svc%d/users/42", i)}, route: fmt.Sprintf("user%d", i), params: param("id", "42")},
					matchCase{name: fmt.Sprintf("prefix %d", i), req: request{path: fmt.Sprintf("/svc%d/assets/app.css", i)}, route: fmt.Sprintf("assets%d", i)})
			}
			tests = append(tests,
				matchCase{name: "unknown first segment", req: request{path: fmt.Sprintf("/svc%d/users/42", n)}},
				matchCase{name: "unknown second segment", req: request{path: "/svc0/orders/42"}})
			runMatch(t, tbl, tests)
		})
	}
}
