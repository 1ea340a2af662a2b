package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// `gantry health` is the container image's HEALTHCHECK: it answers 0
// while the gateway lives, and, asked about /readyz, 1 as soon as a
// SIGTERM starts the drain, while /healthz still answers 0.
func TestHealthCommandAgainstGateway(t *testing.T) {
	g := testkit.Start(t, baseWith("  drain_delay: 5s\n  shutdown_grace: 1s", ""))
	for _, path := range []string{"/healthz", "/readyz"} {
		if out, code := runGantry(t, "health", "--url", g.AdminURL+path); code != 0 || strings.TrimSpace(out) != "ok" {
			t.Fatalf("gantry health --url %s = %d %q, want 0 ok", path, code, out)
		}
	}
	g.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(4 * time.Second)
	for {
		out, code := runGantry(t, "health", "--url", g.AdminURL+"/readyz")
		if code == 1 && strings.Contains(out, "503") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gantry health on /readyz while draining = %d %q, want 1 and a 503", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code := runGantry(t, "health", "--url", g.AdminURL+"/healthz"); code != 0 {
		t.Errorf("gantry health on /healthz while draining = %d %q, want 0: the process is alive", code, out)
	}
	if code := g.Wait(10 * time.Second); code != 0 {
		t.Errorf("gantry exited %d after SIGTERM, want 0", code)
	}
	if out, code := runGantry(t, "health", "--url", g.AdminURL+"/healthz"); code != 1 || !strings.Contains(out, "refused") {
		t.Errorf("gantry health after exit = %d %q, want 1, connection refused", code, out)
	}
}
