package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportOutputValidates imports each sample with -o and runs gantry
// validate on the result; the untranslated items go to stderr with their
// source lines.
func TestImportOutputValidates(t *testing.T) {
	tests := []struct {
		format, sample string
		stderr         string // one untranslated item
	}{
		{"kong", "kong.yaml", "kong.yaml:81: service legacy-soap: protocol tcp: not translated"},
		{"gateway-api", "gateway-api.yaml", "gateway-api.yaml:67: HTTPRoute storefront: path match RegularExpression /items/[0-9]+ not translated"},
		{"openapi", "openapi.yaml", `openapi.yaml:59: path /reports/{year}-{month}.csv: segment "{year}-{month}.csv" mixes a parameter with text`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "gantry.yaml")
			src := filepath.Join("..", "..", "internal", "importer", "testdata", tt.sample)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"import", tt.format, "-o", out, src}, &stdout, &stderr); code != exitOK {
				t.Fatalf("gantry import %s exited %d:\n%s", tt.format, code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if b, err := os.ReadFile(out); err != nil || !bytes.HasPrefix(b, []byte("# Imported from ")) {
				t.Fatalf("-o file: %v %q", err, b)
			}
			stdout.Reset()
			stderr.Reset()
			if code := run([]string{"validate", out}, &stdout, &stderr); code != exitOK || strings.TrimSpace(stdout.String()) != "ok" {
				t.Errorf("gantry validate on the import exited %d: %s%s", code, stdout.String(), stderr.String())
			}
		})
	}
}

func TestImportCommandLine(t *testing.T) {
	runCLICases(t, []cliCase{
		{name: "help", args: []string{"import", "-h"}, code: exitOK, stdout: "gantry import kong|gateway-api|openapi"},
		{name: "unknown format", args: []string{"import", "nginx", "x.conf"}, code: exitUsage, stderr: "gateway-api"},
		{name: "no file", args: []string{"import", "kong"}, code: exitUsage, stderr: "want one FILE, got 0"},
		{name: "bad target", args: []string{"import", "openapi", "--target", "nourl", "x.yaml"}, code: exitUsage, stderr: "want NAME=URL"},
		{name: "missing file", args: []string{"import", "openapi", filepath.Join(t.TempDir(), "none.yaml")}, code: exitConfig, stderr: "no such file"},
	})
}
