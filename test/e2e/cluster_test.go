package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestKeysAcrossNodes runs two gateways on one storage: a key created on
// one works on the other, and a revocation reaches the other within 1 s.
func TestKeysAcrossNodes(t *testing.T) {
	storages := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "shared.db"))
		},
		"postgres": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", storetest.PostgresDSN(t))
		},
	}
	for name, storage := range storages {
		t.Run(name, func(t *testing.T) {
			e := testkit.NewEcho(t, "app")
			cfg := base(storage(t) + fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: keyed
    match: {path_prefix: /}
    upstream: app
    auth: [api_key]
`, e.URL))
			a := testkit.Start(t, cfg)
			b := testkit.Start(t, cfg)
			if status, _ := adminJSON(t, a, "POST", "/admin/consumers", `{"id": "initech"}`); status != 201 {
				t.Fatalf("create consumer: %d", status)
			}
			_, k := adminJSON(t, a, "POST", "/admin/consumers/initech/keys", "")
			key, id := k["key"].(string), k["id"].(string)
			waitStatus(t, b.URL+"/x", key, 200, time.Second)
			if status, _ := adminJSON(t, a, "DELETE", "/admin/consumers/initech/keys/"+id, ""); status != 204 {
				t.Fatalf("revoke: %d", status)
			}
			waitStatus(t, b.URL+"/x", key, 401, time.Second)
		})
	}
}

func waitStatus(t *testing.T, url, key string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := get(t, url, "X-API-Key: "+key)
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d, want %d within %v", r.Status, want, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestExpectContinueUnauthorized: bad credentials are refused before the
// body is asked for, so no 100 Continue is sent.
func TestExpectContinueUnauthorized(t *testing.T) {
	g, e := authGateway(t)
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /keyed/upload HTTP/1.1\r\nHost: x\r\nX-API-Key: gk_nope\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, " 401 ") {
		t.Fatalf("first response line %q, want 401 without 100 Continue", line)
	}
	if e.Count() != 0 {
		t.Fatal("upstream reached")
	}
}
