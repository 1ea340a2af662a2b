package router

import (
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

// exampleConfig mirrors the routes of the contract's example configuration
// plus a few that exercise every kind of bucket and trie node.
func exampleConfig() *config.Config {
	return &config.Config{
		Versioning: &config.Versioning{From: []string{"path", "header:API-Version", "query:version"}, Default: "v1"},
		Routes: []*config.Route{
			route("users", config.Match{Hosts: []string{"api.example.com", "*.example.com"}, Path: "/users/{id}", Methods: []string{"GET", "PUT"}, Headers: map[string]string{"X-Tenant": "acme"}},
				func(rc *config.Route) { rc.Rewrite = "/accounts/{id}" }),
			route("orders-v1", config.Match{PathPrefix: "/orders", Version: "v1"}),
			route("orders-v2", config.Match{PathPrefix: "/orders", Version: "v2"}),
			route("dashboard", config.Match{Path: "/dashboard/{user_id}", Methods: []string{"GET"}}),
			route("chat", config.Match{Path: "/ws/chat"}),
			route("completions", config.Match{Path: "/completions", Methods: []string{"POST"}}),
			route("thumbnails", config.Match{PathPrefix: "/thumbnails"}),
			route("files", config.Match{Path: "/files/{bucket}/{key...}", Methods: []string{"GET", "HEAD"}}),
			route("me", config.Match{Hosts: []string{"api.example.com"}, Path: "/users/me"}),
			route("eu", config.Match{Hosts: []string{"*.eu.example.com"}, PathPrefix: "/", Methods: []string{"GET"}}),
			route("admin", config.Match{PathPrefix: "/admin/"}, func(rc *config.Route) { rc.StripPrefix = "/admin" }),
			route("home", config.Match{Path: "/"}),
		},
	}
}

func TestTableGolden(t *testing.T) {
	tbl := mustCompile(t, exampleConfig())
	golden(t, "table", tbl.String())
}

func TestProblemsGolden(t *testing.T) {
	cfg := &config.Config{
		File:       "gantry.yaml",
		Lines:      map[string]int{"versioning": 3, "versioning.from[1]": 4, "routes[0]": 10, "routes[0].match.path": 12, "routes[1]": 20, "routes[2]": 30, "routes[3]": 40, "routes[4]": 50, "routes[5]": 60, "routes[6]": 70},
		Versioning: &config.Versioning{From: []string{"path", "cookie:v"}},
		Routes: []*config.Route{
			route("users", config.Match{Path: "/users/{id"}),
			route("files", config.Match{Path: "/files/{id}.json", Hosts: []string{"api.example.com:443", "*"}, Methods: []string{"GET", "G T"}}),
			route("orders", config.Match{PathPrefix: "/orders/{id}", Version: "v1"}, func(rc *config.Route) { rc.Rewrite = "/x" }),
			route("accounts", config.Match{Path: "/accounts/{id}"}, func(rc *config.Route) { rc.Rewrite = "/a/{uid}" }),
			route("accounts-copy", config.Match{Path: "/accounts/{aid}", Methods: []string{"GET"}}),
			route("legacy", config.Match{PathPrefix: "/legacy"}, func(rc *config.Route) { rc.StripPrefix = "/old" }),
			route("both", config.Match{Path: "/a", PathPrefix: "/a", Headers: map[string]string{"X-Tenant": "a", "x-tenant": "b"}}),
			nil,
			route("none", config.Match{}, func(rc *config.Route) { rc.Rewrite = "/x"; rc.StripPrefix = "/y" }),
			route("health", config.Match{Path: "/health", Methods: []string{"GET", "HEAD"}}),
			route("health-copy", config.Match{Path: "/health", Methods: []string{"HEAD"}}),
		},
	}
	_, err := Compile(cfg, nil)
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Compile error = %v, want config.Problems", err)
	}
	golden(t, "problems", ps.Error()+"\n")
}

func TestCompileDuplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		routes []*config.Route
		want   string // substring of the problem; "" for none
	}{
		{
			name:   "same pattern shape",
			routes: []*config.Route{route("a", config.Match{Path: "/u/{id}"}), route("b", config.Match{Path: "/u/{uid}"})},
			want:   `routes[1].match: route "b" is never chosen for any method: route "a" (routes[0]) comes first`,
		},
		{
			name:   "overlapping methods",
			routes: []*config.Route{route("a", config.Match{Path: "/u", Methods: []string{"GET", "PUT"}}), route("b", config.Match{Path: "/u", Methods: []string{"POST", "PUT"}})},
			want:   `route "b" is never chosen for PUT`,
		},
		{
			name:   "all methods shadow",
			routes: []*config.Route{route("a", config.Match{PathPrefix: "/u"}), route("b", config.Match{PathPrefix: "/u", Methods: []string{"DELETE"}})},
			want:   `route "b" is never chosen for DELETE`,
		},
		{
			name:   "shared host",
			routes: []*config.Route{route("a", config.Match{Hosts: []string{"a.test", "B.test"}, Path: "/u"}), route("b", config.Match{Hosts: []string{"b.test"}, Path: "/u"})},
			want:   `route "b" is never chosen`,
		},
		{
			name:   "same headers",
			routes: []*config.Route{route("a", config.Match{Path: "/u", Headers: map[string]string{"x-tenant": "acme"}}), route("b", config.Match{Path: "/u", Headers: map[string]string{"X-Tenant": "acme"}})},
			want:   `route "b" is never chosen`,
		},
		{
			name:   "disjoint methods",
			routes: []*config.Route{route("a", config.Match{Path: "/u", Methods: []string{"GET"}}), route("b", config.Match{Path: "/u", Methods: []string{"HEAD"}})},
		},
		{
			name:   "different hosts",
			routes: []*config.Route{route("a", config.Match{Hosts: []string{"a.test"}, Path: "/u"}), route("b", config.Match{Hosts: []string{"b.test"}, Path: "/u"})},
		},
		{
			name:   "host and no host",
			routes: []*config.Route{route("a", config.Match{Hosts: []string{"a.test"}, Path: "/u"}), route("b", config.Match{Path: "/u"})},
		},
		{
			name:   "different headers",
			routes: []*config.Route{route("a", config.Match{Path: "/u", Headers: map[string]string{"X-Tenant": "acme"}}), route("b", config.Match{Path: "/u", Headers: map[string]string{"X-Tenant": "globex"}})},
		},
		{
			name:   "prefix with and without slash",
			routes: []*config.Route{route("a", config.Match{PathPrefix: "/u"}), route("b", config.Match{PathPrefix: "/u/"})},
		},
		{
			name:   "path and prefix",
			routes: []*config.Route{route("a", config.Match{PathPrefix: "/u"}), route("b", config.Match{Path: "/u"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &config.Config{Versioning: &config.Versioning{From: []string{"path"}}, Routes: tt.routes}
			_, err := Compile(cfg, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Compile error = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Compile error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileBuild(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		File:  "gantry.yaml",
		Lines: map[string]int{"routes[1]": 7, "routes[1].rate_limit": 9},
		Routes: []*config.Route{
			route("users", config.Match{Path: "/users/{id}"}),
			route("orders", config.Match{Path: "/orders/{id"}),
			route("completions", config.Match{Path: "/completions"}),
		},
	}
	var built []string
	build := func(rc *config.Route, rt *Route) error {
		built = append(built, rt.Name)
		switch rc.Name {
		case "orders":
			return config.Problems{{Path: "routes[1].rate_limit", Message: "requests must be > 0"}, {Message: "no upstream"}}
		case "completions":
			return errors.New(`upstream "orders" is not usable`)
		}
		if rt.Pattern == nil || rt.Pattern.String() != "/users/{id}" {
			t.Errorf("build got route %+v without its compiled pattern", rt)
		}
		return nil
	}
	_, err := Compile(cfg, build)
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Compile error = %v, want config.Problems", err)
	}
	want := config.Problems{
		{File: "gantry.yaml", Line: 7, Path: "routes[1].match.path", Message: `path "/orders/{id": unclosed "{" at offset 8`},
		{File: "gantry.yaml", Line: 9, Path: "routes[1].rate_limit", Message: "requests must be > 0"},
		{File: "gantry.yaml", Line: 7, Path: "routes[1]", Message: "no upstream"},
		{File: "gantry.yaml", Path: "routes[2]", Message: `upstream "orders" is not usable`},
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"users", "orders", "completions"}, built); diff != "" {
		t.Errorf("built routes (-want +got):\n%s", diff)
	}

	// Without problems every route is built and in the table, by index.
	built = nil
	tbl, err := Compile(&config.Config{Routes: cfg.Routes[:1]}, build)
	if err != nil {
		t.Fatal(err)
	}
	if rs := tbl.Routes(); len(rs) != 1 || rs[0].Index != 0 || rs[0].Name != "users" || len(built) != 1 {
		t.Errorf("Routes() = %v after building %v, want users at index 0", rs, built)
	}
}

func TestCompileVersioning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		v       *config.Versioning
		version string
		path    string
		prefix  string
		want    string
	}{
		{name: "version without versioning", version: "v1", want: "routes[0].match.version: needs a versioning section"},
		{name: "no sources", v: &config.Versioning{Default: "v1"}, want: "versioning.from: must name at least one source"},
		{name: "unknown source", v: &config.Versioning{From: []string{"header:"}}, want: `versioning.from[0]: unknown version source "header:": want path, header:NAME or query:NAME`},
		{name: "ok", v: &config.Versioning{From: []string{"path", "query:v", "header:X-V"}}, version: "v1"},
		{name: "version segment in path", v: &config.Versioning{From: []string{"path"}}, path: "/v1/orders", want: `routes[0].match.path: starts with the version segment "/v1", which is removed before matching because versioning.from has path; use match.version: v1`},
		{name: "version segment in prefix", v: &config.Versioning{From: []string{"header:X-V", "path"}}, prefix: "/V2.1", want: `routes[0].match.path_prefix: starts with the version segment "/V2.1"`},
		{name: "version-like segment without path source", v: &config.Versioning{From: []string{"header:X-V"}}, path: "/v1/orders"},
		{name: "not a version segment", v: &config.Versioning{From: []string{"path"}}, path: "/v1beta/orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := config.Match{Path: tt.path, PathPrefix: tt.prefix, Version: tt.version}
			if m.Path == "" && m.PathPrefix == "" {
				m.Path = "/"
			}
			cfg := &config.Config{Versioning: tt.v, Routes: []*config.Route{route("r", m)}}
			_, err := Compile(cfg, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Compile error = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Compile error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileEmpty(t *testing.T) {
	t.Parallel()
	for _, cfg := range []*config.Config{nil, {}} {
		tbl, err := Compile(cfg, nil)
		if err != nil {
			t.Fatalf("Compile(%v) error = %v", cfg, err)
		}
		if res := tbl.Match(&http.Request{Method: "GET"}, "a.test", "/"); res.Status != http.StatusNotFound {
			t.Errorf("empty table Match status = %d, want 404", res.Status)
		}
	}
}

func TestRoutesOrder(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	tbl := mustCompile(t, cfg)
	rs := tbl.Routes()
	if len(rs) != len(cfg.Routes) {
		t.Fatalf("Routes() has %d routes, want %d", len(rs), len(cfg.Routes))
	}
	for i, rt := range rs {
		if rt.Config != cfg.Routes[i] || rt.Index != i || rt.Name != cfg.Routes[i].Name {
			t.Errorf("Routes()[%d] = %s, want %s", i, rt.Name, cfg.Routes[i].Name)
		}
	}
	rs[0] = nil
	if tbl.Routes()[0] == nil {
		t.Error("Routes() shares its slice with the table")
	}
}

// TestCompileSharesLists checks that routes listing the same methods or
// hosts share one slice: a table of 10,000 routes lists few distinct ones.
func TestCompileSharesLists(t *testing.T) {
	t.Parallel()
	tbl := mustCompile(t, &config.Config{Routes: []*config.Route{
		route("orders", config.Match{Path: "/orders", Methods: []string{"GET", "PUT"}, Hosts: []string{"api.example.com"}}),
		route("users", config.Match{Path: "/users", Methods: []string{"GET", "PUT"}, Hosts: []string{"API.example.com"}}),
		route("carts", config.Match{Path: "/carts", Methods: []string{"GET", "GET", "PUT"}}),
		route("items", config.Match{Path: "/items", Methods: []string{"GET"}}),
	}})
	rs := tbl.Routes()
	if &rs[0].Methods[0] != &rs[1].Methods[0] || &rs[0].Methods[0] != &rs[2].Methods[0] {
		t.Error("routes listing GET, PUT do not share their Methods")
	}
	if &rs[0].Hosts[0] != &rs[1].Hosts[0] {
		t.Error("routes naming api.example.com do not share their Hosts")
	}
	if got := strings.Join(rs[3].Methods, ","); got != "GET" {
		t.Errorf("items Methods = %q, want %q", got, "GET")
	}
}
