package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// A Kubernetes ConfigMap update: the kubelet writes the new files into a
// fresh timestamped directory and renames a symlink over "..data"; the
// config file, a symlink to ..data/gantry.yaml, is never touched. The
// gateway serves the new route within 2 s; a later in-place-style swap
// back works as well.
func TestConfigMapSymlinkSwapReloads(t *testing.T) {
	a, b := testkit.NewEcho(t, "blue"), testkit.NewEcho(t, "green")
	cfg := func(route string) string {
		return base(fmt.Sprintf(`upstreams:
  blue: {targets: [{url: %q}]}
  green: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /%s}
    upstream: green
  - name: old
    match: {path_prefix: /old}
    upstream: blue
`, a.URL, b.URL, route))
	}
	dir := t.TempDir()
	writeIn := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "gantry.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIn("..2026_x", cfg("v1"))
	if err := os.Symlink("..2026_x", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gantry.yaml")
	if err := os.Symlink("..data/gantry.yaml", path); err != nil {
		t.Fatal(err)
	}
	g := testkit.StartFile(t, path)
	if r := get(t, g.URL+"/v1/x"); r.Status != 200 {
		t.Fatalf("GET /v1/x = %d before the swap", r.Status)
	}
	if r := get(t, g.URL+"/v2/x"); r.Status != 404 {
		t.Fatalf("GET /v2/x = %d before the swap, want 404", r.Status)
	}

	swapTo := func(name, route string) {
		t.Helper()
		old, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatal(err)
		}
		writeIn(name, cfg(route))
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus := func(url string, want int) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 2*time.Second {
			if get(t, url).Status == want {
				return time.Since(start)
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("GET %s did not answer %d within 2s of the swap\n%s", url, want, lastLines(g.Stderr(), 5))
		return 0
	}

	swapTo("..2026_y", "v2")
	waitStatus(g.URL+"/v2/x", 200)
	if r := get(t, g.URL+"/v1/x"); r.Status != 404 {
		t.Fatalf("GET /v1/x = %d after the swap, want 404", r.Status)
	}
	if r := get(t, g.URL+"/old/x"); r.Status != 200 || r.Header.Get("X-Upstream") != "blue" {
		t.Fatalf("GET /old/x = %d from %q", r.Status, r.Header.Get("X-Upstream"))
	}
	// The next update, to a third directory, is followed too.
	swapTo("..2026_z", "v3")
	waitStatus(g.URL+"/v3/x", 200)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
