package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// A config directory: three files, each owned by someone else, serve the
// merged routes; a fourth file dropped in is picked up by hot reload; a
// fifth that reuses a route name is refused with both files and lines
// named, and the running configuration keeps serving; once it is gone the
// directory reloads again.
func TestConfigDirectory(t *testing.T) {
	users, orders, billing := testkit.NewEcho(t, "users"), testkit.NewEcho(t, "orders"), testkit.NewEcho(t, "billing")
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		// Written aside and renamed in, so the watcher never reads half a file.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	team := func(name, url string) string {
		return fmt.Sprintf(`version: 1
upstreams:
  %[1]s: {targets: [{url: %[2]q}]}
routes:
  - name: %[1]s
    match: {path_prefix: /%[1]s}
    upstream: %[1]s
`, name, url)
	}
	write("00-gateway.yaml", base(""))
	write("10-users.yaml", team("users", users.URL))
	write("20-orders.yaml", team("orders", orders.URL))

	validate := func() (int, string) {
		out, err := exec.Command(testkit.Binary(t), "validate", "--config", dir).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(out)
	}
	if code, out := validate(); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("gantry validate --config DIR = %d %q, want 0 ok", code, out)
	}

	g := testkit.StartFile(t, dir)
	expect := func(path string, status int, upstream string) {
		t.Helper()
		r := get(t, g.URL+path)
		if r.Status != status || status == 200 && r.Header.Get("X-Upstream") != upstream {
			t.Fatalf("GET %s = %d from %q, want %d from %q", path, r.Status, r.Header.Get("X-Upstream"), status, upstream)
		}
		if status == 200 && r.seen(t).Path != path {
			t.Fatalf("GET %s reached the upstream as %q", path, r.seen(t).Path)
		}
	}
	expect("/users/7", 200, "users")
	expect("/orders/7", 200, "orders")
	expect("/billing/7", 404, "")

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(25 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s did not happen within 3s\n%s", what, lastLines(g.Stderr(), 5))
	}

	write("30-billing.yaml", team("billing", billing.URL))
	waitFor("the fourth file's route", func() bool { return get(t, g.URL+"/billing/7").Status == 200 })
	expect("/billing/7", 200, "billing")
	expect("/users/7", 200, "users")

	write("40-people.yaml", `routes:
  - name: users
    match: {path_prefix: /people}
    upstream: users
`)
	want := `40-people.yaml:2: routes[0].name: duplicate route name \"users\" (also routes[0] at ` + filepath.Join(dir, "10-users.yaml") + `:5)`
	waitFor("the refused reload", func() bool { return strings.Contains(g.Stderr(), want) })
	if !strings.Contains(g.Stderr(), "config reload failed; the running configuration stays in force") {
		t.Errorf("the refusal is not logged as such:\n%s", lastLines(g.Stderr(), 3))
	}
	expect("/people/7", 404, "")
	expect("/users/7", 200, "users")
	expect("/billing/7", 200, "billing")
	if code, out := validate(); code != 1 || !strings.Contains(out, strings.ReplaceAll(want, `\"`, `"`)) {
		t.Errorf("gantry validate --config DIR = %d %q, want 1 and the duplicate", code, out)
	}

	if err := os.Remove(filepath.Join(dir, "40-people.yaml")); err != nil {
		t.Fatal(err)
	}
	write("40-people.yaml", `routes:
  - name: people
    match: {path_prefix: /people}
    upstream: users
`)
	waitFor("the corrected file's route", func() bool { return get(t, g.URL+"/people/7").Status == 200 })
	expect("/people/7", 200, "users")
}

// A main file with include globs: a file that appears in the glob's
// directory is picked up by hot reload, and one changed in place too.
func TestConfigIncludeReloads(t *testing.T) {
	users, orders := testkit.NewEcho(t, "users"), testkit.NewEcho(t, "orders")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "teams"), 0o700); err != nil {
		t.Fatal(err)
	}
	put := func(name, text string) {
		t.Helper()
		tmp := filepath.Join(dir, "teams", ".tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	put("gantry.yaml", base("include: [teams/*.yaml]\n"))
	put("teams/users.yaml", fmt.Sprintf("upstreams:\n  users: {targets: [{url: %q}]}\nroutes:\n  - {name: users, match: {path_prefix: /users}, upstream: users}\n", users.URL))
	g := testkit.StartFile(t, filepath.Join(dir, "gantry.yaml"))
	if r := get(t, g.URL+"/users/1"); r.Status != 200 || r.Header.Get("X-Upstream") != "users" {
		t.Fatalf("GET /users/1 = %d from %q", r.Status, r.Header.Get("X-Upstream"))
	}
	waitUpstream := func(path, want string) {
		t.Helper()
		for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(25 * time.Millisecond) {
			if r := get(t, g.URL+path); r.Status == 200 && r.Header.Get("X-Upstream") == want {
				return
			}
		}
		t.Fatalf("GET %s did not reach %s within 3s\n%s", path, want, lastLines(g.Stderr(), 5))
	}
	put("teams/orders.yaml", fmt.Sprintf("upstreams:\n  orders: {targets: [{url: %q}]}\nroutes:\n  - {name: orders, match: {path_prefix: /orders}, upstream: orders}\n", orders.URL))
	waitUpstream("/orders/1", "orders")
	// The users team points its route at the orders service.
	put("teams/users.yaml", fmt.Sprintf("upstreams:\n  users: {targets: [{url: %q}]}\nroutes:\n  - {name: users, match: {path_prefix: /users}, upstream: orders}\n", users.URL))
	waitUpstream("/users/1", "orders")
}
