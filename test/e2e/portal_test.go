package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

const portalSection = `portal:
  listen: "127.0.0.1:0"
  title: Acme API
`

// TestPortalListener: the portal has a listener of its own, named in the
// start-up log, with the Host guard of the admin listener; changing it is
// a restart, as admin is; an address that cannot be bound stops the start.
func TestPortalListener(t *testing.T) {
	t.Parallel()
	g := testkit.Start(t, base(portalSection))
	if g.PortalURL == "" || g.PortalURL == g.AdminURL {
		t.Fatalf("portal URL %q (admin %q)", g.PortalURL, g.AdminURL)
	}
	if r := get(t, g.PortalURL+"/"); r.Status != 200 || !strings.Contains(string(r.Body), "<title>Acme API</title>") {
		t.Errorf("GET / on the portal = %d %.200s, want the page titled Acme API", r.Status, r.Body)
	}
	if r := get(t, g.PortalURL+"/portal/api/me"); r.Status != 401 {
		t.Errorf("GET /portal/api/me without a session = %d, want 401", r.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, g.PortalURL+"/portal/api/session", nil)
	req.Host = "evil.example"
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 403 {
		t.Errorf("foreign Host = %v %v, want 403", res, err)
	} else {
		res.Body.Close()
	}
	// The portal is not the gateway: the gateway has no /portal/api.
	if r := get(t, g.URL+"/portal/api/session"); r.Status == 200 {
		t.Errorf("the client listener answers the portal's API")
	}

	// Changing portal reloads everything else and says a restart is due.
	cfg, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.ConfigPath, []byte(strings.Replace(string(cfg), "title: Acme API", "title: Acme API v2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := g.Admin("POST", "/admin/reload", "")
	if status != 200 || !strings.Contains(string(body), `"portal"`) || !strings.Contains(string(body), "restart_required") {
		t.Errorf("reload after changing portal = %d %s, want restart_required with portal", status, body)
	}
}

func TestPortalAddressTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := testkit.WriteConfig(t, base("portal:\n  listen: \""+ln.Addr().String()+"\"\n"))
	cmd := exec.Command(testkit.Binary(t), "run", "--config", path)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("gantry kept running with its portal address taken")
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "portal listener on "+ln.Addr().String()) {
		t.Errorf("exit %d, output:\n%s\nwant a failure naming the portal listener", cmd.ProcessState.ExitCode(), out)
	}
}
