package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// Every relative path in the config is taken from the config file's
// directory: a config in its own directory, with its TLS certificate and
// key, a JWT public key and the SQLite database given relative to it,
// validates and runs whatever the working directory (the gateway runs
// from the test's directory, the CLI from an empty one), and the CLI and
// the gateway share one database.
func TestRelativePathsFromTheConfigDirectory(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	e := testkit.NewEcho(t, "app")
	conf := filepath.Join(t.TempDir(), "conf")
	for src, dst := range map[string]string{certFile: "certs/gw.pem", keyFile: "certs/gw-key.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(conf, filepath.Dir(dst)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(conf, "gantry.yaml")
	cfg := fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  tls: {cert_file: certs/gw.pem, key_file: ./certs/gw-key.pem}
storage: {driver: sqlite, dsn: data/gantry.db}
auth:
  jwt:
    - {name: corp, public_key_file: certs/gw.pem, algorithms: [ES256]}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, e.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	gantry := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(testkit.Binary(t), args...)
		cmd.Dir = elsewhere
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := gantry("validate", "--config", path); code != 0 {
		t.Fatalf("validate from another directory: exit %d\n%s", code, out)
	}

	g := testkit.StartFile(t, path)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(g.URL + "/x")
	if err != nil {
		t.Fatalf("HTTPS with the certificate next to the config: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /x = %d", resp.StatusCode)
	}

	if out, code := gantry("consumers", "create", "-c", path, "acme"); code != 0 {
		t.Fatalf("consumers create from another directory: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(conf, "data", "gantry.db")); err != nil {
		t.Fatalf("database not next to the config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "data")); err == nil {
		t.Fatal("the CLI created a database in its working directory")
	}
	if st, m := adminJSON(t, g, "GET", "/admin/consumers/acme", ""); st != 200 {
		t.Fatalf("the gateway does not see the consumer the CLI created: %d %v", st, m)
	}
}
