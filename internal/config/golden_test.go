package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestGoldenMistakes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/mistakes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = parse(data, "mistakes.yaml", env(nil))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("parse = %v, want Problems", err)
	}
	golden(t, "mistakes.golden", ps.Error()+"\n")

	// Independent of the golden file: each mistake at its line.
	want := map[string]int{
		"server.listen":                    6,
		"server.limits.max_body_bytes":     8,
		"admin.token":                      12,
		"auth.jwt[0].algorithms[1]":        18,
		"plans.free.quota.per":             22,
		"upstreams.users.healthcheck":      28,
		"upstreams.users.timeouts.connect": 31,
		"routes[0].match.methods[1]":       37,
		"routes[0].upstream":               38,
	}
	got := map[string]int{}
	for _, p := range ps {
		got[p.Path] = p.Line
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem lines (-want +got):\n%s", diff)
	}
}
