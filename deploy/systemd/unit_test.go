package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnit runs `systemd-analyze verify` on gantry.service (with the
// binary's path pointed at an executable that exists) and its offline
// security audit, which must rate the unit's exposure 2.0 or lower ("OK"
// on systemd's scale of 0 to 10).
func TestUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("gantry.service")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/gantry run --config /etc/gantry/gantry.yaml --access-log -",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"StateDirectory=gantry",
		"DynamicUser=yes",
	} {
		if !strings.Contains(text, "\n"+want+"\n") {
			t.Errorf("gantry.service has no line %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "gantry.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/gantry", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", path).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security (exposure above 2.0?): %v\n%s", err, out)
	}
}
