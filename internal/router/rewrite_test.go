package router

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
)

func TestForwardPath(t *testing.T) {
	t.Parallel()
	rewrite := func(s string) func(*config.Route) { return func(rc *config.Route) { rc.Rewrite = s } }
	strip := func(s string) func(*config.Route) { return func(rc *config.Route) { rc.StripPrefix = s } }
	tbl := mustCompile(t, &config.Config{
		Versioning: &config.Versioning{From: []string{"path"}},
		Routes: []*config.Route{
			route("users", config.Match{Path: "/users/{id}"}, rewrite("/accounts/{id}")),
			route("orders", config.Match{Path: "/users/{uid}/orders/{oid}"}, rewrite("/o/{oid}/by/{uid}")),
			route("files", config.Match{Path: "/files/{bucket}/{path...}"}, rewrite("/{bucket}/{path...}")),
			route("json", config.Match{Path: "/items/{id}"}, rewrite("/v1/items/{id}.json")),
			route("fixed", config.Match{PathPrefix: "/legacy"}, rewrite("/compat")),
			route("api", config.Match{PathPrefix: "/api"}, strip("/api")),
			route("svc", config.Match{PathPrefix: "/svc/"}, strip("/svc/")),
			route("pre", config.Match{PathPrefix: "/"}, strip("/pre")),
			route("plain", config.Match{Path: "/health"}),
		},
	})
	tests := []struct {
		path string
		want string
	}{
		{"/users/7", "/accounts/7"},
		{"/v2/users/7", "/accounts/7"},
		{"/users/a b?c", "/accounts/a b?c"},
		{"/users/7/orders/42", "/o/42/by/7"},
		{"/files/img/2024/cat.png", "/img/2024/cat.png"},
		{"/items/9", "/v1/items/9.json"},
		{"/legacy/x/y", "/compat"},
		{"/api/users", "/users"},
		{"/api", "/"},
		{"/api/", "/"},
		{"/svc/a", "/a"},
		{"/svc/", "/"},
		{"/pre", "/"},
		{"/prefix", "/prefix"},
		{"/pre/x", "/x"},
		{"/health", "/health"},
		{"/v3/health", "/health"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res := tbl.Match(&http.Request{Method: "GET"}, "", tt.path)
			if res.Route == nil {
				t.Fatalf("Match(%q) = %d, want a route", tt.path, res.Status)
			}
			if got := res.Route.ForwardPath(&res); got != tt.want {
				t.Errorf("route %s: ForwardPath(%q) = %q, want %q", res.Route.Name, tt.path, got, tt.want)
			}
		})
	}
}

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	users, _ := parsePattern("/users/{id}")
	files, _ := parsePattern("/files/{path...}")
	tests := []struct {
		name    string
		tpl     string
		pattern *Pattern
		wantErr string
	}{
		{name: "param", tpl: "/accounts/{id}", pattern: users},
		{name: "param inside segment", tpl: "/a/{id}.json", pattern: users},
		{name: "param twice", tpl: "/{id}/{id}", pattern: users},
		{name: "catch-all by name", tpl: "/f/{path}", pattern: files},
		{name: "catch-all with dots", tpl: "/f/{path...}", pattern: files},
		{name: "literal only on prefix route", tpl: "/compat"},
		{name: "unknown param", tpl: "/accounts/{uid}", pattern: users, wantErr: `rewrite "/accounts/{uid}": {uid} is not a parameter of match.path "/users/{id}" at offset 11`},
		{name: "param on prefix route", tpl: "/a/{id}", wantErr: `rewrite "/a/{id}": {id}: a path_prefix route has no parameters at offset 4`},
		{name: "dots on plain param", tpl: "/a/{id...}", pattern: users, wantErr: `{id...}: "id" is not the catch-all of match.path "/users/{id}"`},
		{name: "unclosed", tpl: "/a/{id", pattern: users, wantErr: `rewrite "/a/{id": unclosed "{" at offset 3`},
		{name: "stray close", tpl: "/a/id}", pattern: users, wantErr: `unexpected "}" at offset 5`},
		{name: "relative", tpl: "accounts", pattern: users, wantErr: `must start with "/" at offset 0`},
		{name: "space", tpl: "/my accounts/{id}", pattern: users, wantErr: `a space is not allowed: the gateway never forwards a path with a space at offset 3`},
		{name: "query", tpl: "/a?id={id}", pattern: users, wantErr: `"?" is not allowed: a rewrite sets the path only at offset 2`},
		{name: "bad name", tpl: "/a/{-}", pattern: users, wantErr: `invalid parameter name "-"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseTemplate(tt.tpl, tt.pattern)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseTemplate(%q) error = %v", tt.tpl, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseTemplate(%q) error = %v, want %q", tt.tpl, err, tt.wantErr)
			}
		})
	}
}
