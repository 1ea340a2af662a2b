package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// Help for run, validate, demo and gantry itself goes to stdout with
// status 0 and reads no configuration; a bad flag is still status 2.
func TestCommandHelp(t *testing.T) {
	none := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []cliCase{
		{name: "gantry -h", args: []string{"-h"}, code: exitOK, stdout: "gantry validate"},
		{name: "gantry --help", args: []string{"--help"}, code: exitOK, stdout: "gantry run"},
		{name: "gantry help", args: []string{"help"}, code: exitOK, stdout: "gantry demo"},
		{name: "run -h", args: []string{"run", "-h"}, code: exitOK, stdout: "gantry run [-c FILE]"},
		{name: "run --help", args: []string{"run", "--help"}, code: exitOK, stdout: "-access-log"},
		{name: "run -h with a missing config", args: []string{"run", "-c", none, "-h"}, code: exitOK, stdout: "-log-format"},
		{name: "validate -h", args: []string{"validate", "-h"}, code: exitOK, stdout: "gantry validate [-c FILE | FILE]"},
		{name: "validate --help with a missing config", args: []string{"validate", "--config", none, "--help"}, code: exitOK, stdout: "-config file"},
		{name: "demo -h", args: []string{"demo", "-h"}, code: exitOK, stdout: "gantry demo [--data DIR]"},
		{name: "demo --help", args: []string{"demo", "--help"}, code: exitOK, stdout: "-data directory"},
		{name: "gantry alone", args: nil, code: exitUsage, stderr: "Usage:"},
		{name: "run bad flag", args: []string{"run", "--nope"}, code: exitUsage, stderr: "-nope"},
		{name: "validate bad flag", args: []string{"validate", "--nope"}, code: exitUsage, stderr: "gantry validate [-c FILE | FILE]"},
		{name: "demo bad flag", args: []string{"demo", "--nope"}, code: exitUsage, stderr: "gantry demo [--data DIR]"},
		{name: "unknown command", args: []string{"frob"}, code: exitUsage, stderr: `unknown command "frob"`},
	}
	runCLICases(t, tests)
}

// cliCase is one command line given to run and what it must answer.
type cliCase struct {
	name   string
	args   []string
	code   int
	stdout string // a substring of stdout
	stderr string // a substring of stderr; "" means stderr stays empty
}

// runCLICases runs each case through run, as the binary's main does.
func runCLICases(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("gantry %q exited %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if tt.stderr == "" && stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing (help goes to stdout)", stderr.String())
			}
		})
	}
}
