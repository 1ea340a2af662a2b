package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// `gantry COMMAND -h` prints the command's usage on stdout and exits 0
// without reading a configuration; a bad flag still exits 2.
func TestCLIHelpExitsZero(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string // a substring of stdout
	}{
		{args: []string{"-h"}, code: 0, stdout: "gantry validate"},
		{args: []string{"run", "-h"}, code: 0, stdout: "-access-log"},
		{args: []string{"validate", "-h"}, code: 0, stdout: "-config"},
		{args: []string{"demo", "-h"}, code: 0, stdout: "-data"},
		{args: []string{"run", "--nope"}, code: 2},
		{args: []string{"validate", "--nope"}, code: 2},
		{args: []string{"demo", "--nope"}, code: 2},
	}
	bin := testkit.Binary(t)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Dir = t.TempDir() // no gantry.yaml here
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Fatalf("gantry %q exited %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.stdout)
			}
			if tt.code == 0 && stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing (help goes to stdout)", stderr.String())
			}
		})
	}
}
