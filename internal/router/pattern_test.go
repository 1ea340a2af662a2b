package router

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
	"github.com/google/go-cmp/cmp"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		names   []string
		static  bool
		wantErr string
	}{
		{name: "root", in: "/", static: true},
		{name: "static", in: "/health", static: true},
		{name: "trailing slash", in: "/users/", static: true},
		{name: "param", in: "/users/{id}", names: []string{"id"}},
		{name: "two params", in: "/users/{user_id}/orders/{orderID}", names: []string{"user_id", "orderID"}},
		{name: "catch-all", in: "/files/{path...}", names: []string{"path"}},
		{name: "root catch-all", in: "/{rest...}", names: []string{"rest"}},
		{name: "param then slash", in: "/users/{id}/", names: []string{"id"}},

		{name: "empty", in: "", wantErr: `path "": must not be empty`},
		{name: "relative", in: "users", wantErr: `path "users": must start with "/" at offset 0`},
		{name: "unclosed", in: "/users/{id", wantErr: `path "/users/{id": unclosed "{" at offset 7`},
		{name: "stray close", in: "/users/id}", wantErr: `path "/users/id}": unexpected "}" at offset 9`},
		{name: "mixed suffix", in: "/files/{id}.json", wantErr: `path "/files/{id}.json": segment "{id}.json" mixes a parameter with literal text; a parameter must be a whole segment at offset 7`},
		{name: "mixed prefix", in: "/files/v{id}", wantErr: `path "/files/v{id}": segment "v{id}" mixes a parameter with literal text; a parameter must be a whole segment at offset 8`},
		{name: "empty name", in: "/users/{}", wantErr: `path "/users/{}": empty parameter name at offset 8`},
		{name: "empty catch-all name", in: "/users/{...}", wantErr: `path "/users/{...}": empty parameter name at offset 8`},
		{name: "bad name", in: "/users/{1id}", wantErr: `path "/users/{1id}": invalid parameter name "1id": want letters, digits and "_", not starting with a digit at offset 8`},
		{name: "dash in name", in: "/users/{user-id}", wantErr: `invalid parameter name "user-id"`},
		{name: "duplicate", in: "/a/{id}/b/{id}", wantErr: `path "/a/{id}/b/{id}": duplicate parameter name "id" at offset 11`},
		{name: "catch-all not last", in: "/files/{path...}/raw", wantErr: `path "/files/{path...}/raw": catch-all {path...} must be the last segment at offset 7`},
		{name: "double slash", in: "/a//b", wantErr: `path "/a//b": empty segment ("//") never matches a canonical path at offset 3`},
		{name: "dot", in: "/a/./b", wantErr: `dot segment "." never matches a canonical path at offset 3`},
		{name: "dot dot", in: "/a/..", wantErr: `dot segment ".." never matches a canonical path at offset 3`},
		{name: "query", in: "/search?q={q}", wantErr: `path "/search?q={q}": "?" is not allowed: a pattern matches the path only at offset 7`},
		{name: "fragment", in: "/a#b", wantErr: `"#" is not allowed`},
		{name: "control", in: "/a\x00b", wantErr: `control character "\x00" is not allowed at offset 2`},
		{name: "space", in: "/annual report", wantErr: `a space never matches: paths with a space are refused at offset 7`},
		{name: "matrix parameter", in: "/files;v=2/{id}", wantErr: `";" never matches: matrix parameters (";..." in a segment) are removed before matching at offset 6`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePattern(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePattern(%q) error = %v", tt.in, err)
			}
			if got := p.String(); got != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
			if diff := cmp.Diff(tt.names, p.Names()); diff != "" {
				t.Errorf("Names() (-want +got):\n%s", diff)
			}
			if p.Static() != tt.static {
				t.Errorf("Static() = %v, want %v", p.Static(), tt.static)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	p := func(name, value string) pipeline.Param { return pipeline.Param{Name: name, Value: value} }
	tests := []struct {
		pattern string
		path    string
		ok      bool
		params  []pipeline.Param
	}{
		{"/", "/", true, nil},
		{"/", "/a", false, nil},
		{"/users/{id}", "/users/7", true, []pipeline.Param{p("id", "7")}},
		{"/users/{id}", "/users/", false, nil},
		{"/users/{id}", "/users", false, nil},
		{"/users/{id}", "/users/7/", false, nil},
		{"/users/{id}", "/users/7/orders", false, nil},
		{"/users/{id}/", "/users/7/", true, []pipeline.Param{p("id", "7")}},
		{"/users/{id}/", "/users/7", false, nil},
		{"/files/{path...}", "/files/a", true, []pipeline.Param{p("path", "a")}},
		{"/files/{path...}", "/files/a/b/c.txt", true, []pipeline.Param{p("path", "a/b/c.txt")}},
		{"/files/{path...}", "/files/a/", true, []pipeline.Param{p("path", "a/")}},
		{"/files/{path...}", "/files/", false, nil},
		{"/files/{path...}", "/files", false, nil},
		{"/{a}/{b}", "/x/y", true, []pipeline.Param{p("a", "x"), p("b", "y")}},
		{"/users/", "/users/", true, nil},
		{"/users/", "/users", false, nil},
		{"/a", "", false, nil},
		{"/a", "a", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			pat, err := parsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			params, ok := pat.Match(tt.path)
			if ok != tt.ok {
				t.Fatalf("Match(%q) ok = %v, want %v", tt.path, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.params, params); diff != "" {
				t.Errorf("Match(%q) params (-want +got):\n%s", tt.path, diff)
			}
			if ok {
				if got := pat.Expand(params); got != tt.path {
					t.Errorf("Expand(%v) = %q, want %q", params, got, tt.path)
				}
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		slash   bool
		wantErr string
	}{
		{in: "/", want: "/", slash: true},
		{in: "/orders", want: "/orders"},
		{in: "/orders/", want: "/orders/", slash: true},
		{in: "/api/v1", want: "/api/v1"},
		{in: "", wantErr: `path_prefix "": must not be empty`},
		{in: "orders", wantErr: `path_prefix "orders": must start with "/" at offset 0`},
		{in: "/users/{id}", wantErr: `path_prefix "/users/{id}": "{" is not allowed: a path_prefix is literal; use match.path for {parameters} at offset 7`},
		{in: "/a//b", wantErr: `path_prefix "/a//b": empty segment ("//") never matches a canonical path at offset 3`},
		{in: "/a/../b", wantErr: `dot segment ".." never matches a canonical path at offset 3`},
		{in: "/a?b", wantErr: `"?" is not allowed`},
		{in: "/my files", wantErr: `a space never matches: paths with a space are refused at offset 3`},
		{in: "/admin;x", wantErr: `";" never matches: matrix parameters (";..." in a segment) are removed before matching at offset 6`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			px, err := parsePrefix("path_prefix", tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePrefix(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePrefix(%q) error = %v", tt.in, err)
			}
			if px.String() != tt.want || px.slash != tt.slash {
				t.Errorf("parsePrefix(%q) = %q slash=%v, want %q slash=%v", tt.in, px.String(), px.slash, tt.want, tt.slash)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "api.example.com", want: "api.example.com"},
		{in: "API.Example.COM.", want: "api.example.com"},
		{in: "*.example.com", want: "*.example.com"},
		{in: "localhost", want: "localhost"},
		{in: "10.0.0.1", want: "10.0.0.1"},
		{in: "[2001:DB8::1]", want: "2001:db8::1"},
		{in: "2001:db8:0:0::1", want: "2001:db8::1"},
		{in: "[::ffff:10.0.0.1]", want: "10.0.0.1"},
		{in: "", wantErr: "must not be empty"},
		{in: "api.example.com:8080", wantErr: "hosts are matched without port"},
		{in: "*", wantErr: `"*" is only allowed as the whole first label`},
		{in: "api.*.com", wantErr: `"*" is only allowed as the whole first label`},
		{in: "*example.com", wantErr: `"*" is only allowed as the whole first label`},
		{in: "a..b", wantErr: "empty label"},
		{in: "a b.com", wantErr: `invalid character " "`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseHost(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseHost(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParsePattern checks that the parser never panics and that every
// accepted pattern round-trips through String and matches its own
// expansion.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"/", "/users/{id}", "/files/{path...}", "/users/{id", "/a//b", "/files/{id}.json", "/{a}/{b}/", "/x/{y...}/z", "/%7B", "/é/{ü}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePattern(s)
		if err != nil {
			var pe *PatternError
			if pe, _ = err.(*PatternError); pe == nil || pe.Offset > len(s) {
				t.Fatalf("ParsePattern(%q) error = %#v, want a *PatternError with an offset inside the text", s, err)
			}
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("ParsePattern(%q).String() = %q", s, got)
		}
		q, err := parsePattern(p.String())
		if err != nil || q.String() != s {
			t.Fatalf("reparse of %q = %v, %v", s, q, err)
		}
		// Giving each parameter a sample value gives a path the pattern
		// matches, with those values back.
		var params []pipeline.Param
		for _, n := range p.Names() {
			params = append(params, pipeline.Param{Name: n, Value: "v" + n})
		}
		path := p.Expand(params)
		got, ok := p.Match(path)
		if !ok {
			t.Fatalf("pattern %q does not match its expansion %q", s, path)
		}
		if diff := cmp.Diff(params, got); diff != "" {
			t.Fatalf("pattern %q on %q: params (-want +got):\n%s", s, path, diff)
		}
	})
}

// A match.hosts entry and a request's Host naming the same host agree:
// both go through the one canonical form (wire.SplitHost), so an entry
// cannot miss a request that names its host in another spelling.
func TestParseHostAgreesWithRequestHost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ entry, host string }{
		{"api.example.com", "API.example.com.:8443"},
		{"[2001:db8::1]", "[2001:DB8:0:0::1]:443"},
		{"2001:db8:0::1", "[2001:db8::1]"},
		{"::ffff:10.0.0.1", "10.0.0.1:80"},
		{"10.0.0.1", "[::ffff:10.0.0.1]"},
		{"localhost.", "LOCALHOST"},
	} {
		want, err := parseHost(c.entry)
		if err != nil {
			t.Fatalf("parseHost(%q): %v", c.entry, err)
		}
		if got, _, ok := wire.SplitHost(c.host); !ok || got != want {
			t.Errorf("entry %q compiles to %q, but Host %q reads as %q (ok %v)", c.entry, want, c.host, got, ok)
		}
	}
}
