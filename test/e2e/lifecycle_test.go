package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

func twoUpstreams(t *testing.T, target string) string {
	a, b := testkit.NewEcho(t, "blue"), testkit.NewEcho(t, "green")
	return base(fmt.Sprintf(`upstreams:
  blue: {targets: [{url: %q}]}
  green: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %s
`, a.URL, b.URL, target))
}

func rewriteConfig(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), from, to, 1)
	// Write to a temp file and rename, as editors and tools do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func servedBy(t *testing.T, url string) string {
	t.Helper()
	return get(t, url).Header.Get("X-Upstream")
}

func waitServedBy(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if servedBy(t, url) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not served by %q within 5s", want)
}

func TestReloadTriggers(t *testing.T) {
	cfg := twoUpstreams(t, "blue")
	g := testkit.Start(t, cfg)
	if got := servedBy(t, g.URL+"/"); got != "blue" {
		t.Fatalf("served by %q", got)
	}
	// A change on disk is picked up by the watcher.
	rewriteConfig(t, g.ConfigPath, "upstream: blue", "upstream: green")
	waitServedBy(t, g.URL+"/", "green")

	// SIGHUP.
	rewriteConfig(t, g.ConfigPath, "upstream: green", "upstream: blue")
	g.Signal(syscall.SIGHUP)
	waitServedBy(t, g.URL+"/", "blue")

	// POST /admin/reload.
	rewriteConfig(t, g.ConfigPath, "upstream: blue", "upstream: green")
	status, body := g.Admin("POST", "/admin/reload", "")
	if status != 200 {
		t.Fatalf("admin reload = %d %s", status, body)
	}
	if got := servedBy(t, g.URL+"/"); got != "green" {
		t.Fatalf("after admin reload served by %q", got)
	}
}

func TestInvalidReloadKeepsRunningConfig(t *testing.T) {
	g := testkit.Start(t, twoUpstreams(t, "blue"))
	rewriteConfig(t, g.ConfigPath, "upstream: blue", "upstream: purple")
	status, body := g.Admin("POST", "/admin/reload", "")
	if status != 400 {
		t.Fatalf("invalid reload = %d, want 400: %s", status, body)
	}
	var res struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Path    string `json:"path"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.OK || len(res.Problems) == 0 || !strings.Contains(res.Problems[0].Path, "upstream") || res.Problems[0].Line == 0 {
		t.Fatalf("reload answer %s", body)
	}
	if got := servedBy(t, g.URL+"/"); got != "blue" {
		t.Fatalf("after invalid reload served by %q, want blue", got)
	}
	// A syntax error also keeps the old config.
	rewriteConfig(t, g.ConfigPath, "routes:", "routes: [")
	if status, _ := g.Admin("POST", "/admin/reload", ""); status != 400 {
		t.Fatalf("broken yaml reload = %d", status)
	}
	if got := servedBy(t, g.URL+"/"); got != "blue" {
		t.Fatalf("after broken reload served by %q", got)
	}
}

// TestReloadUnderLoad swaps configs while clients send a steady stream of
// requests: not one may fail.
func TestReloadUnderLoad(t *testing.T) {
	g := testkit.Start(t, twoUpstreams(t, "blue"))
	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(g.URL + "/load")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	colors := []string{"blue", "green"}
	for i := 0; i < 20; i++ {
		rewriteConfig(t, g.ConfigPath, "upstream: "+colors[i%2], "upstream: "+colors[(i+1)%2])
		if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
			t.Fatalf("reload %d = %d %s", i, status, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || total.Load() < 100 {
		t.Fatalf("%d of %d requests failed during reloads", failures.Load(), total.Load())
	}
}

func metric(t *testing.T, g *testkit.Gantry, name string) float64 {
	t.Helper()
	status, body := g.Admin("GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestThousandReloadsStayFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 reloads")
	}
	g := testkit.Start(t, twoUpstreams(t, "blue"))
	get(t, g.URL+"/warm")
	reload := func(n int) {
		for i := 0; i < n; i++ {
			if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
				t.Fatalf("reload = %d %s", status, body)
			}
			if i%50 == 0 {
				get(t, g.URL+"/between")
			}
		}
	}
	reload(100)
	goBefore := metric(t, g, "go_goroutines")
	heapBefore := metric(t, g, "go_memstats_heap_inuse_bytes")
	reload(1000)
	goAfter := metric(t, g, "go_goroutines")
	heapAfter := metric(t, g, "go_memstats_heap_inuse_bytes")
	if goAfter > goBefore+5 {
		t.Fatalf("goroutines %v -> %v after 1,000 reloads", goBefore, goAfter)
	}
	if heapAfter > heapBefore+8<<20 {
		t.Fatalf("heap in use %.0f -> %.0f bytes after 1,000 reloads", heapBefore, heapAfter)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(800 * time.Millisecond)
		fmt.Fprint(w, "slow answer")
	}))
	g := testkit.Start(t, oneRoute(t, up.URL, "  shutdown_grace: 5s"))
	done := make(chan response, 1)
	go func() { done <- get(t, g.URL+"/slow") }()
	time.Sleep(200 * time.Millisecond)
	g.Signal(syscall.SIGTERM)
	select {
	case r := <-done:
		if r.Status != 200 || string(r.Body) != "slow answer" {
			t.Fatalf("in-flight request during shutdown: %d %q", r.Status, r.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request did not finish")
	}
	if code := g.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	path := testkit.WriteConfig(t, `version: 1
server:
  listen: "127.0.0.1:0"
  limits:
    max_body_bytes: lots
upstreams:
  users:
    targets: [{url: "http://127.0.0.1:9101"}]
routes:
  - name: users
    match: {path: "/users/{id}"}
    upstream: usres
  - name: orders
    match: {path: /orders}
    upstream: users
    timeout_ms: 5
`)
	out, code := runGantry(t, "validate", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`:5\b.*max_body_bytes`),
		regexp.MustCompile(`:12\b.*routes\[0\]\.upstream`),
		regexp.MustCompile(`:16\b.*timeout_ms`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %v:\n%s", want, out)
		}
	}
	good := testkit.WriteConfig(t, twoUpstreams(t, "blue"))
	if out, code := runGantry(t, "validate", "--config", good); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("valid config: exit %d %q", code, out)
	}
}

func TestCommandLine(t *testing.T) {
	if out, code := runGantry(t, "version"); code != 0 || !strings.HasPrefix(out, "gantry ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if _, code := runGantry(t, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
	if _, code := runGantry(t, "run", "--no-such-flag"); code != 2 {
		t.Fatalf("bad flag exit %d, want 2", code)
	}
	if _, code := runGantry(t, "run", "--config", "/nonexistent/gantry.yaml"); code != 1 {
		t.Fatalf("missing config exit %d, want 1", code)
	}
}

func TestAdminToken(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	cfg := strings.Replace(oneRoute(t, e.URL, ""), `admin:
  listen: "127.0.0.1:0"`, `admin:
  listen: "127.0.0.1:0"
  token: ${GANTRY_ADMIN_TOKEN}`, 1)
	g := testkit.Start(t, cfg, "GANTRY_ADMIN_TOKEN=s3cret-admin-token")
	get(t, g.URL+"/counted")
	if status, _ := g.Admin("GET", "/admin/routes", ""); status != 401 {
		t.Fatalf("no token: %d", status)
	}
	if status, _ := g.Admin("GET", "/admin/routes", "wrong"); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	status, body := g.Admin("GET", "/admin/routes", "s3cret-admin-token")
	if status != 200 || !strings.Contains(string(body), `"app"`) {
		t.Fatalf("with token: %d %s", status, body)
	}
	if status, _ := g.Admin("GET", "/healthz", ""); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
	if status, body := g.Admin("GET", "/readyz", ""); status != 200 {
		t.Fatalf("readyz with config loaded and storage reachable: %d %s", status, body)
	}
	if status, body := g.Admin("GET", "/admin/config", "s3cret-admin-token"); status != 200 || strings.Contains(string(body), "s3cret-admin-token") {
		t.Fatalf("config leaks the token or fails: %d", status)
	}
	if status, body := g.Admin("GET", "/metrics", ""); status != 200 || !strings.Contains(string(body), "gantry_requests_total") {
		t.Fatalf("metrics: %d", status)
	}
}

func runGantry(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatal(err)
	}
	return string(out), 0
}
