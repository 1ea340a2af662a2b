package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// minimal is the smallest valid config; tests append to it.
const minimal = `version: 1
upstreams:
  users:
    targets: [{url: "http://127.0.0.1:9101"}]
routes:
  - name: users
    match: {path_prefix: /users}
    upstream: users
`

// env is a fixed environment for parse.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// parseProblems parses src and returns its problems (nil when valid).
func parseProblems(t *testing.T, src string, vars map[string]string) (*Config, Problems) {
	t.Helper()
	cfg, err := parse([]byte(src), "gantry.yaml", env(vars))
	if err == nil {
		return cfg, nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("parse error %T (%v), want Problems", err, err)
	}
	return nil, ps
}

// brief renders problems as "line: path: message" for comparison.
func brief(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d: %s: %s", p.Line, p.Path, p.Message))
	}
	return out
}

func TestParseMinimal(t *testing.T) {
	t.Parallel()
	cfg, ps := parseProblems(t, minimal, nil)
	if ps != nil {
		t.Fatalf("minimal config: %v", ps)
	}
	if cfg.File != "gantry.yaml" {
		t.Errorf("File = %q, want gantry.yaml", cfg.File)
	}
	if got := cfg.Routes[0].Upstream; got != "users" {
		t.Errorf("Routes[0].Upstream = %q, want users", got)
	}
}

func TestParseStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown key with suggestion",
			src:  minimal + "    upstrem: users\n",
			want: []string{`9: routes[0].upstrem: unknown key "upstrem" (did you mean "upstream"?)`},
		},
		{
			name: "unknown key in nested struct",
			src:  "server:\n  limits:\n    max_body: 1MiB\n" + minimal,
			want: []string{`3: server.limits.max_body: unknown key "max_body" (did you mean "max_body_bytes"?)`},
		},
		{
			name: "suggestion across case and dashes",
			src:  minimal + "    stripPrefix: /users\n",
			want: []string{`9: routes[0].stripPrefix: unknown key "stripPrefix" (did you mean "strip_prefix"?)`},
		},
		{
			name: "unknown key without a close match lists the known ones",
			src:  "admin:\n  colour: blue\n" + minimal,
			want: []string{`2: admin.colour: unknown key "colour"; known keys here: allowed_hosts, allowed_origins, listen, token, ui`},
		},
		{
			name: "every unknown key is reported",
			src:  "servr: {}\nadmin: {listn: ':1'}\n" + minimal + "    upstrem: users\n",
			want: []string{
				`1: servr: unknown key "servr" (did you mean "server"?)`,
				`2: admin.listn: unknown key "listn" (did you mean "listen"?)`,
				`11: routes[0].upstrem: unknown key "upstrem" (did you mean "upstream"?)`,
			},
		},
		{
			name: "duplicate struct key",
			src:  "server:\n  listen: ':80'\n  listen: ':81'\n" + minimal,
			want: []string{`3: server.listen: duplicate key "listen" (first at line 2): give each key once`},
		},
		{
			name: "duplicate map key",
			src:  minimal + "plans:\n  free: {}\n  free: {}\n",
			want: []string{`11: plans.free: duplicate key "free" (first at line 10): give each name once`},
		},
		{
			name: "string where an integer is expected",
			src:  minimal + "    rate_limit: {requests: lots, per: 1s}\n",
			want: []string{`9: routes[0].rate_limit.requests: want a whole number, got "lots"`},
		},
		{
			name: "mapping where a list is expected",
			src:  minimal + "    auth: {api_key: true}\n",
			want: []string{`9: routes[0].auth: want a list, got a mapping`},
		},
		{
			name: "scalar where a mapping is expected",
			src:  "server: true\n" + minimal,
			want: []string{`1: server: want a mapping (key: value), got a boolean (true)`},
		},
		{
			name: "bad duration",
			src:  "server:\n  shutdown_grace: 15\n" + minimal,
			want: []string{`2: server.shutdown_grace: invalid duration 15: a duration needs a unit, like "15s" or "15ms"`},
		},
		{
			name: "bad size with the right line in a flow mapping",
			src:  minimal + "    max_body_bytes: 10 megabytes\n",
			want: []string{`9: routes[0].max_body_bytes: invalid size "10 megabytes": want whole bytes or a whole number with a unit (KiB, MiB, GiB, KB, MB, GB), like "64KiB" or "10MiB"`},
		},
		{
			name: "type error does not repeat as a validation problem",
			src:  minimal + "    rate_limit: {requests: -x, per: 1s}\n",
			want: []string{`9: routes[0].rate_limit.requests: want a whole number, got "-x"`},
		},
		{
			name: "decode and validation problems together",
			src:  minimal + "    upstrem: users\n  - name: orders\n    match: {path: /orders}\n    upstream: ordrs\n",
			want: []string{
				`9: routes[0].upstrem: unknown key "upstrem" (did you mean "upstream"?)`,
				`12: routes[1].upstream: unknown upstream "ordrs" (known: users)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ps := parseProblems(t, tt.src, nil)
			if diff := cmp.Diff(tt.want, brief(ps)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDocumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantMsg  string
	}{
		{name: "empty", src: "", wantMsg: "config is empty"},
		{name: "only comments", src: "# nothing here\n", wantMsg: "config is empty"},
		{name: "null document", src: "~\n", wantLine: 1, wantMsg: "config is empty"},
		{name: "list at top", src: "- a\n- b\n", wantLine: 1, wantMsg: "the top level must be a mapping"},
		{name: "two documents", src: minimal + "---\nversion: 1\n", wantLine: 9, wantMsg: "a second YAML document"},
		{name: "syntax error", src: "version: 1\nserver:\n  listen: [\n", wantMsg: "did not find expected"},
		{name: "tab indentation", src: "version: 1\nserver:\n\tlisten: ':80'\n", wantLine: 3, wantMsg: "not tabs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ps := parseProblems(t, tt.src, nil)
			if len(ps) != 1 {
				t.Fatalf("got %d problems (%v), want 1", len(ps), ps)
			}
			if tt.wantLine != 0 && ps[0].Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%v)", ps[0].Line, tt.wantLine, ps[0])
			}
			if !strings.Contains(ps[0].Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", ps[0].Message, tt.wantMsg)
			}
			if ps[0].File != "gantry.yaml" {
				t.Errorf("file = %q, want gantry.yaml", ps[0].File)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"TOKEN":   "s3cr3t-token",
		"NUMERIC": "12345",
		"NULLISH": "null",
		"RETRIES": "3",
		"HOST":    "127.0.0.1",
		"EMPTY":   "",
	}
	tests := []struct {
		name    string
		extra   string
		check   func(*Config) string // returns a mismatch description
		wantErr string
	}{
		{
			name:  "whole value",
			extra: "admin:\n  token: ${TOKEN}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "s3cr3t-token") },
		},
		{
			name:  "numeric value into a string stays a string",
			extra: "admin:\n  token: ${NUMERIC}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "12345") },
		},
		{
			name:  "null-looking value into a string stays a string",
			extra: "admin:\n  token: ${NULLISH}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "null") },
		},
		{
			name:  "inside a longer value",
			extra: "admin: {listen: '${HOST}:9080'}\n",
			check: func(c *Config) string { return eq(c.Admin.Listen, "127.0.0.1:9080") },
		},
		{
			name:  "into an integer, even quoted",
			extra: "usage:\n  export:\n    url: http://127.0.0.1:8888/\n    batch_size: \"${RETRIES}\"\n",
			check: func(c *Config) string { return eq(fmt.Sprint(c.Usage.Export.BatchSize), "3") },
		},
		{
			name:  "escaped",
			extra: "admin: {token: \"$${TOKEN}\"}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "${TOKEN}") },
		},
		{
			name:  "escape next to a variable",
			extra: "admin: {token: \"$${X}-${TOKEN}\"}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "${X}-s3cr3t-token") },
		},
		{
			name:  "lone dollar is kept",
			extra: "admin: {token: \"pa$$word$\"}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "pa$$word$") },
		},
		{
			name:  "set but empty",
			extra: "admin: {token: \"x${EMPTY}y\"}\n",
			check: func(c *Config) string { return eq(c.Admin.Token, "xy") },
		},
		{
			name:    "unset",
			extra:   "admin:\n  token: ${GANTRY_MISSING}\n",
			wantErr: "10: admin.token: environment variable GANTRY_MISSING is not set (referenced as ${GANTRY_MISSING})",
		},
		{
			name:    "unterminated",
			extra:   "admin:\n  token: \"${TOKEN\"\n",
			wantErr: "10: admin.token: unterminated ${",
		},
		{
			name:    "invalid name",
			extra:   "admin:\n  token: \"${TOKEN:-x}\"\n",
			wantErr: `10: admin.token: invalid variable name "TOKEN:-x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, ps := parseProblems(t, minimal+tt.extra, vars)
			if tt.wantErr != "" {
				got := brief(ps)
				if len(got) != 1 || !strings.HasPrefix(got[0], tt.wantErr) {
					t.Fatalf("problems %q, want one starting %q", got, tt.wantErr)
				}
				return
			}
			if ps != nil {
				t.Fatalf("unexpected problems: %v", ps)
			}
			if msg := tt.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func eq(got, want string) string {
	if got != want {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

func TestParseEnvWithAlias(t *testing.T) {
	t.Parallel()
	// The anchored node is expanded once; the escape must not be expanded
	// a second time through the alias.
	src := minimal + "auth:\n  jwt:\n" +
		"    - {name: a, secret: &s \"$${NOT_A_VAR}-${KEY}\", algorithms: [HS256]}\n" +
		"    - {name: b, secret: *s, algorithms: [HS256]}\n"
	cfg, ps := parseProblems(t, src, map[string]string{"KEY": "0123456789abcdef0123456789abcdef"})
	if ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	want := "${NOT_A_VAR}-0123456789abcdef0123456789abcdef"
	for i, j := range cfg.Auth.JWT {
		if j.Secret != want {
			t.Errorf("Auth.JWT[%d].Secret = %q, want %q", i, j.Secret, want)
		}
	}
}

func TestParseLines(t *testing.T) {
	t.Parallel()
	src := `version: 1
server:
  listen: ":8080"
upstreams:
  users:
    targets:
      - url: http://127.0.0.1:9101
        weight: 2
routes:
  - name: users
    match:
      path: /users/{id}
    upstream: users
`
	cfg, ps := parseProblems(t, src, nil)
	if ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	want := map[string]int{
		"version":                           1,
		"server":                            2,
		"server.listen":                     3,
		"upstreams":                         4,
		"upstreams.users":                   5,
		"upstreams.users.targets":           6,
		"upstreams.users.targets[0]":        7,
		"upstreams.users.targets[0].url":    7,
		"upstreams.users.targets[0].weight": 8,
		"routes":                            9,
		"routes[0]":                         10,
		"routes[0].name":                    10,
		"routes[0].match":                   11,
		"routes[0].match.path":              12,
		"routes[0].upstream":                13,
	}
	if diff := cmp.Diff(want, cfg.Lines); diff != "" {
		t.Errorf("Lines (-want +got):\n%s", diff)
	}
}

func TestParseMergeKeys(t *testing.T) {
	t.Parallel()
	src := `version: 1
x-timeouts: &defaults
  timeouts: {connect: 1s, response: 5s}
  retries: 1
upstreams:
  users:
    <<: *defaults
    retries: 3
    targets: [{url: "http://127.0.0.1:9101"}]
routes:
  - {name: users, match: {path: /u}, upstream: users}
`
	_, ps := parseProblems(t, src, nil)
	// The anchor has to live somewhere; an unknown top-level key is still
	// reported, but the merge itself is understood.
	if diff := cmp.Diff([]string{`2: x-timeouts: unknown key "x-timeouts"; known keys here: admin, auth, cache, consumers, counters, include, plans, portal, routes, server, storage, telemetry, upstreams, usage, version, versioning`}, brief(ps)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	src = strings.Replace(src, "x-timeouts: &defaults\n  timeouts: {connect: 1s, response: 5s}\n  retries: 1\n", "", 1)
	src = strings.Replace(src, "  users:\n    <<: *defaults\n", "  base: &defaults\n    timeouts: {connect: 1s, response: 5s}\n    retries: 1\n    targets: [{url: \"http://127.0.0.1:9100\"}]\n  users:\n    <<: *defaults\n", 1)
	cfg, ps := parseProblems(t, src, nil)
	if ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	u := cfg.Upstreams["users"]
	if u.Retries != 3 || u.Timeouts.Response.String() != "5s" || u.Targets[0].URL != "http://127.0.0.1:9101" {
		t.Errorf("merged upstream = %+v, want retries 3, response 5s, own target", u)
	}
}

func TestParseAliasBomb(t *testing.T) {
	t.Parallel()
	// Aliases that fit the config's types but expand to millions of nodes.
	many := func(alias string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(alias+", ", 150), ", ") + "]"
	}
	src := "version: 1\nx: [&s a, &c {name: c, upstream: u, path: /, select: " + many("*s") + "}]\n" +
		"y: &r {name: r, match: {path: /}, aggregate: {calls: " + many("*c") + "}}\n" +
		"routes: " + many("*r") + "\n"
	_, ps := parseProblems(t, src, nil)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "aliases expand too much") {
		t.Errorf("problems = %v, want one about aliases", ps)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Errorf("Load(missing) error = %v, want a reading config error", err)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"listen", "tls", "trusted_proxies", "limits", "shutdown_grace"}
	tests := []struct{ key, want string }{
		{"lisen", "listen"},
		{"Listen", "listen"},
		{"trusted-proxies", "trusted_proxies"},
		{"trustedProxies", "trusted_proxies"},
		{"limit", "limits"},
		{"shutdown_grce", "shutdown_grace"},
		{"tsl", "tls"},
		{"xyz", ""},
		{"port", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
