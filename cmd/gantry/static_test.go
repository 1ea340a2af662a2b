package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMakeBuildIsStatic runs `make build` as a release would and checks
// the binary it writes: an ELF with no interpreter and no dynamic section
// (what `file` calls "statically linked"), no path of this checkout in it
// (-trimpath), `gantry version` naming the commit it was built from, and
// the SQLite store working without cgo.
// It builds the whole gateway without cgo, so -short skips it.
func TestMakeBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway: skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF binary")
	}
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "gantry")
	cmd := exec.Command("make", "--no-print-directory", "build", "BIN="+bin)
	cmd.Dir = root
	// The Makefile, not the environment, must make the build static.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is dynamically linked", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Error("the binary has a .dynamic section")
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}

	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
		t.Errorf("the binary contains the checkout's path %s: built without -trimpath", root)
	}

	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("gantry version: %v\n%s", err, out)
	}
	if want := "commit:     " + strings.TrimSpace(string(head)) + "\n"; !strings.Contains(string(out), want) {
		t.Errorf("gantry version printed\n%s\nwant a line %q", out, want)
	}
	// The SQLite store is pure Go: it works in the cgo-free binary.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gantry.yaml")
	if err := os.WriteFile(cfg, []byte("version: 1\nstorage: {driver: sqlite, dsn: ./data/gantry.db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "consumers", "create", "-c", cfg, "acme").CombinedOutput(); err != nil {
		t.Fatalf("gantry consumers create on SQLite: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "consumers", "list", "-c", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "acme") {
		t.Errorf("gantry consumers list on SQLite = %v\n%s\nwant acme", err, out)
	}
	for _, unstamped := range []string{"gantry dev ", "built:      unknown"} {
		if strings.Contains(string(out), unstamped) {
			t.Errorf("gantry version printed %q: the build is not stamped\n%s", unstamped, out)
		}
	}
}
