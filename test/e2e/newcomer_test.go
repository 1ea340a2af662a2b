package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// A health check whose timeout equals its interval is accepted (Envoy,
// Kong and NGINX Plus accept it too) by validate and by run, and the
// probes keep the target in: requests are served.
func TestHealthCheckTimeoutEqualToInterval(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	cfg := baseWith("", fmt.Sprintf(`upstreams:
  app:
    targets: [{url: %q}]
    health_check: {path: /healthz, interval: 1s, timeout: 1s}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, e.URL))
	path := testkit.WriteConfig(t, cfg)
	if out, code := runGantry(t, "validate", "--config", path); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("validate: exit %d, %q; want 0 and ok", code, out)
	}
	g := testkit.StartFile(t, path)
	time.Sleep(1500 * time.Millisecond) // at least one round of probes
	if r := get(t, g.URL+"/x"); r.Status != 200 {
		t.Fatalf("GET /x = %d, want 200", r.Status)
	}
	bad := testkit.WriteConfig(t, strings.Replace(cfg, "timeout: 1s", "timeout: 1100ms", 1))
	if out, code := runGantry(t, "validate", "--config", bad); code != 1 || !strings.Contains(out, "must not exceed interval") {
		t.Fatalf("validate with timeout over interval: exit %d, %q; want 1", code, out)
	}
}

// The CLI and the admin API accept and refuse the same consumers: an
// unknown plan, a bad id or an empty group is refused by both (exit 1,
// 400), a known plan accepted by both.
func TestConsumerCreateCLIMatchesAdminAPI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.yaml")
	cfg := baseWith("", `storage: {driver: sqlite, dsn: ./gantry.db}
plans:
  free: {}
  pro: {}
`)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testkit.StartFile(t, path)
	long := strings.Repeat("g", 129)
	tests := []struct {
		name   string
		id     string
		plan   string
		groups string
		ok     bool
	}{
		{name: "unknown plan", id: "x", plan: "nope"},
		{name: "bad id", id: "a/b"},
		{name: "group too long", id: "y", groups: long},
		{name: "known plan", id: "acme", plan: "pro", ok: true},
		{name: "no plan", id: "bob", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cliID, apiID := tt.id, tt.id
			if tt.ok { // both create it: two names
				cliID, apiID = "cli-"+tt.id, "api-"+tt.id
			}
			args := []string{"consumers", "create", "-c", path}
			groups := []string{}
			if tt.plan != "" {
				args = append(args, "--plan", tt.plan)
			}
			if tt.groups != "" {
				args = append(args, "--groups", tt.groups)
				groups = []string{tt.groups}
			}
			out, code := runGantry(t, append(args, cliID)...)
			gb, _ := json.Marshal(groups)
			status, body := adminJSON(t, g, "POST", "/admin/consumers", fmt.Sprintf(`{"id": %q, "plan": %q, "groups": %s}`, apiID, tt.plan, gb))
			if tt.ok {
				if code != 0 || status != 201 {
					t.Fatalf("CLI exit %d (%s), admin %d %v; want 0 and 201", code, out, status, body)
				}
				return
			}
			if code != 1 || status != 400 {
				t.Fatalf("CLI exit %d (%s), admin %d %v; want 1 and 400", code, out, status, body)
			}
			if msg, _ := body["message"].(string); msg == "" || !strings.Contains(out, msg) {
				t.Errorf("CLI says %q, admin API %q: want the same reason", out, msg)
			}
		})
	}
	if out, code := runGantry(t, "consumers", "list", "-c", path); code != 0 || strings.Contains(out, "nope") || !strings.Contains(out, "cli-acme") {
		t.Fatalf("consumers list: exit %d\n%s", code, out)
	}
}

// Subcommand help needs no configuration file: -h prints the usage to
// stdout and exits 0 from a directory without gantry.yaml; a bad command
// line exits 2.
func TestStoreCommandHelpWithoutConfig(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"consumers", "-h"}, 0, "gantry consumers create"},
		{[]string{"keys", "-h"}, 0, "gantry keys create"},
		{[]string{"consumers", "--help"}, 0, "gantry consumers list"},
		{[]string{"keys", "create", "-h"}, 0, "-config file"},
		{[]string{"consumers", "create", "-h"}, 0, "-plan plan"},
		{[]string{"usage", "-h"}, 0, "gantry usage [-c FILE]"},
		{[]string{"invoice", "-h"}, 0, "gantry invoice"},
		{[]string{"consumers", "frob"}, 2, `unknown command "frob"`},
		{[]string{"keys", "create", "--nope", "x"}, 2, "flag provided but not defined: -nope"},
		{[]string{"keys", "revoke", "acme"}, 2, "want 2 argument(s)"},
		{[]string{"consumers"}, 2, "Usage:"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(testkit.Binary(t), tt.args...)
			cmd.Dir = dir
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.code, stdout.String(), stderr.String())
			}
			got := stdout.String()
			if code != 0 {
				got = stderr.String()
			}
			if !strings.Contains(got, tt.want) || strings.Contains(stderr.String(), "invalid configuration") {
				t.Fatalf("stdout %q stderr %q, want %q", stdout.String(), stderr.String(), tt.want)
			}
		})
	}
}
