package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// A health check whose timeout equals its interval is accepted (Envoy,
// Kong and NGINX Plus accept it too) by validate and by run, and the
// probes keep the target in: requests are served.
func TestHealthCheckTimeoutEqualToInterval(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	cfg := baseWith("", fmt.Sprintf(`upstreams:
  app:
    targets: [{url: %q}]
    health_check: {path: /healthz, interval: 1s, timeout: 1s}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, e.URL))
	path := testkit.WriteConfig(t, cfg)
	if out, code := runGantry(t, "validate", "--config", path); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("validate: exit %d, %q; want 0 and ok", code, out)
	}
	g := testkit.StartFile(t, path)
	time.Sleep(1500 * time.Millisecond) // at least one round of probes
	if r := get(t, g.URL+"/x"); r.Status != 200 {
		t.Fatalf("GET /x = %d, want 200", r.Status)
	}
	bad := testkit.WriteConfig(t, strings.Replace(cfg, "timeout: 1s", "timeout: 1100ms", 1))
	if out, code := runGantry(t, "validate", "--config", bad); code != 1 || !strings.Contains(out, "must not exceed interval") {
		t.Fatalf("validate with timeout over interval: exit %d, %q; want 1", code, out)
	}
}
