package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (relative path -> content) under a new
// temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	mainPart   = "version: 1\nserver:\n  listen: \"127.0.0.1:0\"\nstorage:\n  driver: sqlite\n  dsn: \":memory:\"\n"
	usersPart  = "version: 1\nupstreams:\n  users:\n    targets: [{url: \"http://127.0.0.1:9101\"}]\nroutes:\n  - name: users\n    match: {path_prefix: /users}\n    upstream: users\n"
	ordersPart = "upstreams:\n  orders:\n    targets: [{url: \"http://127.0.0.1:9102\"}]\nroutes:\n  - name: orders\n    match: {path_prefix: /orders}\n    upstream: orders\n  - name: order-items\n    match: {path_prefix: /items}\n    upstream: users\n"
)

func TestLoadDirectoryMerges(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"00-main.yaml":  mainPart,
		"10-users.yaml": usersPart,
		"20-orders.yml": ordersPart,
		"notes.txt":     "not read",
		".hidden.yaml":  "not: read",
		"sub/more.yaml": "not: read",
	})
	cfg, err := load(dir, noEnv)
	if err != nil {
		t.Fatalf("load(dir) error:\n%v", err)
	}
	var names []string
	for _, r := range cfg.Routes {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"users", "orders", "order-items"}, names); diff != "" {
		t.Errorf("merged routes (-want +got):\n%s", diff)
	}
	if len(cfg.Upstreams) != 2 || cfg.Server.Listen != "127.0.0.1:0" {
		t.Errorf("upstreams = %d, listen = %q; want 2 and 127.0.0.1:0", len(cfg.Upstreams), cfg.Server.Listen)
	}
	tests := []struct {
		path, file, local string
		line              int
	}{
		{"routes[0].upstream", "10-users.yaml", "routes[0].upstream", 8},
		{"routes[2].match", "20-orders.yml", "routes[1].match", 9},
		{"upstreams.orders", "20-orders.yml", "upstreams.orders", 2},
		{"server.listen", "00-main.yaml", "server.listen", 3},
	}
	for _, tt := range tests {
		if got := filepath.Base(cfg.FileOf(tt.path)); got != tt.file {
			t.Errorf("FileOf(%s) = %s, want %s", tt.path, got, tt.file)
		}
		if got := cfg.LocalPath(tt.path); got != tt.local {
			t.Errorf("LocalPath(%s) = %s, want %s", tt.path, got, tt.local)
		}
		if got := cfg.Line(tt.path); got != tt.line {
			t.Errorf("Line(%s) = %d, want %d", tt.path, got, tt.line)
		}
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestLoadSeveralFilesProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		main  string // loaded path, relative; "" loads the directory
		want  []string
	}{
		{
			name: "route name in two files",
			files: map[string]string{"a.yaml": mainPart, "b.yaml": usersPart,
				"c.yaml": "routes:\n  - name: users\n    match: {path_prefix: /people}\n    upstream: users\n"},
			want: []string{`c.yaml:2: routes[0].name: duplicate route name "users" (also routes[0] at b.yaml:6)`},
		},
		{
			name: "upstream in two files",
			files: map[string]string{"a.yaml": mainPart, "b.yaml": usersPart,
				"c.yaml": "upstreams:\n  users:\n    targets: [{url: \"http://127.0.0.1:9999\"}]\n"},
			want: []string{`c.yaml:2: upstreams.users: "users" is defined in both b.yaml:3 and c.yaml:2: give each name once`},
		},
		{
			name:  "section in two files",
			files: map[string]string{"a.yaml": mainPart, "b.yaml": usersPart + "server:\n  listen: \":9\"\n"},
			want:  []string{`b.yaml:9: server: server is set in both a.yaml:2 and b.yaml:9: only routes, consumers, upstreams, plans, auth.jwt and auth.external merge across files; set server in one file`},
		},
		{
			name:  "versions disagree",
			files: map[string]string{"a.yaml": mainPart, "b.yaml": strings.Replace(usersPart, "version: 1", "version: 2", 1)},
			want:  []string{`b.yaml:1: version: version 2, but a.yaml:1 says version 1: the files of a configuration must agree`},
		},
		{
			name:  "include in a directory",
			files: map[string]string{"a.yaml": mainPart + "include: [x.yaml]\n", "b.yaml": usersPart},
			want:  []string{`a.yaml:7: include: include is read only in the main file, not in a config directory, whose every file is read`},
		},
		{
			name:  "unknown key in an included file",
			files: map[string]string{"main.yaml": mainPart + "include: [teams/*.yaml]\n", "teams/users.yaml": strings.Replace(usersPart, "path_prefix", "path_prefx", 1)},
			main:  "main.yaml",
			want: []string{"teams/users.yaml:7: routes[0].match: set path (exact, or a pattern with {param}) or path_prefix",
				`teams/users.yaml:7: routes[0].match.path_prefx: unknown key "path_prefx" (did you mean "path_prefix"?)`},
		},
		{
			name: "unknown upstream in the second included file",
			files: map[string]string{"main.yaml": mainPart + "include: [teams/*.yaml]\n", "teams/a.yaml": usersPart,
				"teams/b.yaml": "routes:\n  - name: billing\n    match: {path_prefix: /billing}\n    upstream: billing\n"},
			main: "main.yaml",
			want: []string{`teams/b.yaml:4: routes[0].upstream: unknown upstream "billing" (known: users)`},
		},
		{
			name:  "include in an included file",
			files: map[string]string{"main.yaml": mainPart + "include: [b.yaml]\n", "b.yaml": usersPart + "include: [c.yaml]\n"},
			main:  "main.yaml",
			want:  []string{`b.yaml:9: include: include is read only in the main file, not in an included file`},
		},
		{
			name:  "syntax errors in two files",
			files: map[string]string{"a.yaml": mainPart + "  bad: [\n", "b.yaml": usersPart, "c.yaml": "routes:\n\t- name: x\n", "d.yaml": "# nothing here yet\n"},
			want: []string{"a.yaml:7: did not find expected node content",
				"c.yaml:2: found character that cannot start any token: indent with spaces, not tabs"},
		},
		{
			name:  "included file missing",
			files: map[string]string{"main.yaml": mainPart + "include:\n  - users.yaml\n"},
			main:  "main.yaml",
			want:  []string{`main.yaml:8: include[0]: no such file "` + "DIR" + `/users.yaml"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTree(t, tt.files)
			_, err := load(filepath.Join(dir, tt.main), noEnv)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("load() error = %v, want Problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.ReplaceAll(p.Error(), dir+string(filepath.Separator), ""))
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "DIR/", dir+string(filepath.Separator))
				want[i] = strings.ReplaceAll(want[i], dir+string(filepath.Separator), "")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIncludeResolvesPathsPerFile(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"main.yaml":           mainPart + "include: [teams/*.yaml]\n" + usersPart[len("version: 1\n"):],
		"teams/auth.yaml":     "auth:\n  jwt:\n    - name: team\n      public_key_file: keys/team.pem\n      algorithms: [RS256]\n",
		"teams/keys/team.pem": "placeholder",
	})
	cfg, err := load(filepath.Join(dir, "main.yaml"), noEnv)
	if err != nil {
		t.Fatalf("load() error:\n%v", err)
	}
	want := filepath.Join(dir, "teams", "keys", "team.pem")
	if got := cfg.Auth.JWT[0].PublicKeyFile; got != want {
		t.Errorf("public_key_file = %q, want %q (relative to the including file's directory)", got, want)
	}
	files, dirs := Sources(filepath.Join(dir, "main.yaml"))
	if diff := cmp.Diff([]string{filepath.Join(dir, "main.yaml"), filepath.Join(dir, "teams", "auth.yaml")}, files); diff != "" {
		t.Errorf("Sources() files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dir, filepath.Join(dir, "teams")}, dirs); diff != "" {
		t.Errorf("Sources() dirs (-want +got):\n%s", diff)
	}
}

// TestDirFilesConfigMap reads a config directory laid out as a Kubernetes
// ConfigMap volume: the files are symlinks into ..data, and the dot
// entries are not read themselves.
func TestDirFilesConfigMap(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"..2026_1/a.yaml": mainPart, "..2026_1/b.yaml": usersPart})
	for _, l := range [][2]string{{"..2026_1", "..data"}, {"..data/a.yaml", "a.yaml"}, {"..data/b.yaml", "b.yaml"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := load(dir, noEnv)
	if err != nil {
		t.Fatalf("load() error:\n%v", err)
	}
	if len(cfg.Routes) != 1 || cfg.Server.Listen != "127.0.0.1:0" {
		t.Errorf("routes = %d, listen = %q; want the two files merged", len(cfg.Routes), cfg.Server.Listen)
	}
	files, dirs := Sources(dir)
	if diff := cmp.Diff([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}, files); diff != "" {
		t.Errorf("Sources() files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dir}, dirs); diff != "" {
		t.Errorf("Sources() dirs (-want +got):\n%s", diff)
	}
}
