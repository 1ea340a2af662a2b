package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoreCommandLines(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gantry.yaml")
	if err := os.WriteFile(cfg, []byte(`version: 1
storage: {driver: sqlite, dsn: ./gantry.db}
plans:
  free: {}
  pro: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Help and bad command lines never read a configuration: none exists
	// in the working directory of the test.
	none := filepath.Join(dir, "missing.yaml")
	tests := []cliCase{
		{name: "consumers -h", args: []string{"consumers", "-h"}, code: exitOK, stdout: "gantry consumers create"},
		{name: "consumers --help", args: []string{"consumers", "--help"}, code: exitOK, stdout: "gantry consumers list"},
		{name: "consumers help", args: []string{"consumers", "help"}, code: exitOK, stdout: "gantry consumers delete"},
		{name: "consumers create -h", args: []string{"consumers", "create", "-h"}, code: exitOK, stdout: "-plan plan"},
		{name: "consumers create -h with a missing config", args: []string{"consumers", "create", "-c", none, "-h"}, code: exitOK, stdout: "-groups"},
		{name: "keys -h", args: []string{"keys", "-h"}, code: exitOK, stdout: "gantry keys revoke"},
		{name: "keys revoke --help", args: []string{"keys", "revoke", "--help"}, code: exitOK, stdout: "Flags of gantry keys revoke"},
		{name: "usage -h", args: []string{"usage", "-c", none, "-h"}, code: exitOK, stdout: "gantry usage [-c FILE]"},
		{name: "invoice --help", args: []string{"invoice", "--help"}, code: exitOK, stdout: "-period"},
		{name: "usage bad flag", args: []string{"usage", "--nope"}, code: exitUsage, stderr: "gantry usage [-c FILE]"},
		{name: "consumers alone", args: []string{"consumers"}, code: exitUsage, stderr: "Usage:"},
		{name: "keys alone", args: []string{"keys"}, code: exitUsage, stderr: "Usage:"},
		{name: "unknown subcommand", args: []string{"consumers", "frob"}, code: exitUsage, stderr: `unknown command "frob"`},
		{name: "unknown flag", args: []string{"consumers", "create", "--bogus", "x"}, code: exitUsage, stderr: "-bogus"},
		{name: "missing argument", args: []string{"consumers", "create"}, code: exitUsage, stderr: "want 1 argument(s), got 0"},
		{name: "too many arguments", args: []string{"keys", "revoke", "acme"}, code: exitUsage, stderr: "want 2 argument(s), got 1"},
		{name: "missing config", args: []string{"consumers", "list", "-c", none}, code: exitConfig, stderr: "invalid configuration"},
		{name: "unknown plan", args: []string{"consumers", "create", "-c", cfg, "--plan", "nope", "x"}, code: exitConfig, stderr: `plan: no plan named "nope" (known: free, pro)`},
		{name: "bad id", args: []string{"consumers", "create", "-c", cfg, "-x"}, code: exitUsage, stderr: "-x"},
		{name: "bad id after flags", args: []string{"consumers", "create", "-c", cfg, "a/b"}, code: exitConfig, stderr: "id: want 1-128 characters"},
		{name: "known plan", args: []string{"consumers", "create", "-c", cfg, "--plan", "pro", "acme"}, code: exitOK, stdout: "created consumer acme"},
		{name: "no plan", args: []string{"consumers", "create", "-c", cfg, "bob"}, code: exitOK, stdout: "created consumer bob"},
		{name: "list", args: []string{"consumers", "list", "-c", cfg}, code: exitOK, stdout: "acme  pro"},
	}
	runCLICases(t, tests)
}
