package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestRejectedReloadKeepsStorage reloads a file that swaps consumer alice
// for bob and adds an upstream that cannot be built: the reload is refused
// and storage still holds alice (whose key still works), not bob. Before
// the plan/activate split the consumers were written to storage before the
// new generation was built.
func TestRejectedReloadKeepsStorage(t *testing.T) {
	storages := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
		},
		"postgres": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", storetest.PostgresDSN(t))
		},
	}
	for name, storage := range storages {
		t.Run(name, func(t *testing.T) {
			e := testkit.NewEcho(t, "app")
			cfg := base(storage(t) + fmt.Sprintf(`consumers:
  - id: alice
    api_keys: [{key: "alice-key-3c9f2a7b1d"}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: keyed
    match: {path_prefix: /}
    upstream: app
    auth: [api_key]
`, e.URL))
			// No AWS credentials: a lambda upstream without an endpoint
			// passes the decoder and fails when the generation is built.
			g := testkit.Start(t, cfg, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
			const aliceKey = "alice-key-3c9f2a7b1d"
			waitStatus(t, g.URL+"/x", aliceKey, 200, 2*time.Second)

			rewriteConfig(t, g.ConfigPath, "id: alice", "id: bob")
			rewriteConfig(t, g.ConfigPath, "upstreams:\n", "upstreams:\n  fn: {lambda: {function: shop-api, region: us-east-1}}\n")
			status, body := g.Admin("POST", "/admin/reload", "")
			var res struct {
				OK       bool `json:"ok"`
				Problems []struct {
					Path string `json:"path"`
				} `json:"problems"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("reload answer %d %s: %v", status, body, err)
			}
			if status != 400 || res.OK || len(res.Problems) == 0 || !strings.HasPrefix(res.Problems[0].Path, "upstreams.fn") {
				t.Fatalf("reload = %d %s, want 400, not ok, a problem at upstreams.fn", status, body)
			}

			if st, b := g.Admin("GET", "/admin/consumers/alice", ""); st != 200 {
				t.Errorf("after the refused reload GET alice = %d %s, want 200", st, b)
			}
			if st, b := g.Admin("GET", "/admin/consumers/bob", ""); st != 404 {
				t.Errorf("after the refused reload GET bob = %d %s, want 404", st, b)
			}
			// Give a removed key's revocation time to reach the cache
			// through the change feed, then use it.
			time.Sleep(1500 * time.Millisecond)
			if r := get(t, g.URL+"/x", "X-API-Key: "+aliceKey); r.Status != 200 {
				t.Errorf("alice's key after the refused reload = %d %s, want 200", r.Status, r.Body)
			}
			if st, b := g.Admin("GET", "/admin/consumers/alice", ""); st != 200 {
				t.Errorf("GET alice = %d %s, want 200", st, b)
			}
		})
	}
}

// lockableStorages are the storage drivers the reload tests run against:
// section is the config file's storage section on a fresh database, lock
// takes the database's write lock (on the consumers table) from outside
// the gateway until unlock, so that activation's storage write fails.
var lockableStorages = map[string]struct {
	section func(t *testing.T) (yaml, dsn string)
	lock    func(t *testing.T, dsn string) (unlock func())
}{
	"sqlite": {
		section: func(t *testing.T) (string, string) {
			p := filepath.Join(t.TempDir(), "gantry.db")
			return fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", p), p
		},
		lock: func(t *testing.T, dsn string) func() {
			db, err := sql.Open("sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				conn.ExecContext(context.Background(), "ROLLBACK")
				conn.Close()
				db.Close()
			}
		},
	},
	"postgres": {
		section: func(t *testing.T) (string, string) {
			dsn := storetest.PostgresDSN(t)
			return fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", dsn), dsn
		},
		lock: func(t *testing.T, dsn string) func() {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "LOCK TABLE consumers IN EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				tx.Rollback(ctx)
				conn.Close(ctx)
			}
		},
	},
}

// TestFailedActivationSwapsNothing holds the storage's write lock while a
// reload swaps alice for bob and adds a route: the storage write, the last
// step of activation, fails, so the reload is refused, storage still holds
// alice and the new route is not served.
func TestFailedActivationSwapsNothing(t *testing.T) {
	for name, st := range lockableStorages {
		t.Run(name, func(t *testing.T) {
			e := testkit.NewEcho(t, "app")
			section, dsn := st.section(t)
			const aliceKey = "alice-key-5e1d0c9b8a"
			g := testkit.Start(t, base(section+fmt.Sprintf(`consumers:
  - id: alice
    api_keys: [{key: %q}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: keyed
    match: {path_prefix: /}
    upstream: app
    auth: [api_key]
`, aliceKey, e.URL)))
			waitStatus(t, g.URL+"/x", aliceKey, 200, 2*time.Second)

			// The lock is taken first: the file watcher reloads on the
			// rewrite, and that reload must meet it.
			unlock := st.lock(t, dsn)
			before := time.Now()
			rewriteConfig(t, g.ConfigPath, "id: alice", "id: bob")
			rewriteConfig(t, g.ConfigPath, "routes:\n", "routes:\n  - name: open\n    match: {path_prefix: /open}\n    upstream: app\n")
			last := awaitReload(t, g, before)
			unlock()
			if last.OK || !strings.Contains(last.Error, "storing the config file's consumers") {
				t.Fatalf("reload under a storage lock: ok=%v error %q, want refused at the storage write", last.OK, last.Error)
			}
			if st, b := g.Admin("GET", "/admin/consumers/alice", ""); st != 200 {
				t.Errorf("after the refused reload GET alice = %d %s, want 200", st, b)
			}
			if st, b := g.Admin("GET", "/admin/consumers/bob", ""); st != 404 {
				t.Errorf("after the refused reload GET bob = %d %s, want 404", st, b)
			}
			if r := get(t, g.URL+"/open"); r.Status != 401 {
				t.Errorf("GET /open after the refused reload = %d, want 401 (the old route, with its key check)", r.Status)
			}
			if r := get(t, g.URL+"/x", "X-API-Key: "+aliceKey); r.Status != 200 {
				t.Errorf("alice's key after the refused reload = %d %s, want 200", r.Status, r.Body)
			}
			// With the lock gone the same file is accepted.
			if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
				t.Fatalf("reload without the lock = %d %s", status, body)
			}
			if r := get(t, g.URL+"/open"); r.Status != 200 {
				t.Errorf("GET /open after the accepted reload = %d, want 200", r.Status)
			}
			if st, b := g.Admin("GET", "/admin/consumers/bob", ""); st != 200 {
				t.Errorf("after the accepted reload GET bob = %d %s, want 200", st, b)
			}
		})
	}
}

// TestValidateEqualsRun runs `gantry validate` and `gantry run` on the same
// files and demands the same verdict; validate names the key at fault,
// with its line.
func TestValidateEqualsRun(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	certA, keyA, _ := selfSigned(t)
	_, keyB, _ := selfSigned(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	route := fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, e.URL)
	jwtRoute := route + "    auth: [jwt:idp]\n"
	tlsWith := func(cert, key string) string {
		return fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}", cert, key)
	}
	tests := []struct {
		name string
		yaml string
		// path is the key validate must name; "" for a valid file.
		path string
	}{
		{"valid", base(route), ""},
		{"valid with tls", baseWith(tlsWith(certA, keyA), route), ""},
		{"missing jwt key file", base(fmt.Sprintf(`auth:
  jwt:
    - name: idp
      public_key_file: %q
      algorithms: [RS256]
`, missing) + jwtRoute), "auth.jwt[0].public_key_file"},
		{"missing tls certificate", baseWith(tlsWith(missing, keyA), route), "server.tls.cert_file"},
		{"missing tls key", baseWith(tlsWith(certA, missing), route), "server.tls.key_file"},
		{"mismatched tls key", baseWith(tlsWith(certA, keyB), route), "server.tls.key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testkit.WriteConfig(t, tt.yaml)
			vout, verr := exec.Command(testkit.Binary(t), "validate", "--config", path).CombinedOutput()
			validOK := verr == nil
			started, rout := runVerdict(t, path)
			if validOK != started {
				t.Fatalf("validate ok=%v but run started=%v\nvalidate:\n%s\nrun:\n%s", validOK, started, vout, rout)
			}
			if tt.path == "" {
				if !validOK {
					t.Fatalf("validate refused a valid file:\n%s", vout)
				}
				return
			}
			if validOK {
				t.Fatalf("validate accepted the file:\n%s", vout)
			}
			re := regexp.MustCompile(`gantry\.yaml:[1-9][0-9]*: ` + regexp.QuoteMeta(tt.path) + `: `)
			if !re.Match(vout) {
				t.Errorf("validate output does not name %s with its line:\n%s", tt.path, vout)
			}
		})
	}
}

// runVerdict runs `gantry run` on path: started is true when it listens
// (it is then stopped), false when it exits first.
func runVerdict(t *testing.T, path string) (started bool, output string) {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), "run", "--config", path, "--access-log", "off")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	pr, pw := io.Pipe()
	var out strings.Builder
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()
	up := make(chan bool, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), `"msg":"gantry started"`) {
				up <- true
				sent = true
			}
		}
		lines <- out.String()
	}()
	select {
	case <-up:
		started = true
		cmd.Process.Signal(syscall.SIGTERM)
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("gantry run neither started nor exited within 30s")
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	output = <-lines
	if !started && cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("gantry run exited %d, want 1:\n%s", cmd.ProcessState.ExitCode(), output)
	}
	return started, output
}

// reloadStatus is /admin/status's last_reload.
type reloadStatus struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error"`
}

// awaitReload waits for /admin/status to report a reload attempted after
// since (the file watcher's, after a rewrite) and returns it.
func awaitReload(t *testing.T, g *testkit.Gantry, since time.Time) reloadStatus {
	t.Helper()
	for deadline := time.Now().Add(25 * time.Second); ; {
		status, body := g.Admin("GET", "/admin/status", "")
		var res struct {
			LastReload *reloadStatus `json:"last_reload"`
		}
		if err := json.Unmarshal(body, &res); err != nil || status != 200 || res.LastReload == nil {
			t.Fatalf("GET /admin/status = %d %s", status, body)
		}
		if res.LastReload.At.After(since) {
			return *res.LastReload
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload reported after the rewrite: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
