package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// readyBody is /readyz's JSON.
type readyBody struct {
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Degraded []struct {
		Dependency string `json:"dependency"`
		Component  string `json:"component"`
		Reason     string `json:"reason"`
	} `json:"degraded"`
}

func (b readyBody) degraded(dependency, component string) bool {
	for _, d := range b.Degraded {
		if d.Dependency == dependency && d.Component == component {
			return true
		}
	}
	return false
}

// probeClient opens a connection per probe, as load balancers do, and
// gives up after a probe timeout.
var probeClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// readyz calls /readyz; it does not fail the test, so goroutines may use it.
func readyz(g *testkit.Gantry) (int, readyBody, error) {
	res, err := probeClient.Get(g.AdminURL + "/readyz")
	if err != nil {
		return 0, readyBody{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, readyBody{}, err
	}
	var b readyBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return res.StatusCode, b, fmt.Errorf("/readyz body %q: %w", raw, err)
	}
	return res.StatusCode, b, nil
}

func mustReadyz(t *testing.T, g *testkit.Gantry) (int, readyBody) {
	t.Helper()
	code, b, err := readyz(g)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// waitReadyz polls /readyz every 20 ms until ok accepts its answer; every
// answer before that goes to each (when set), which may fail the test.
func waitReadyz(t *testing.T, g *testkit.Gantry, within time.Duration, what string, ok func(int, readyBody) bool, each func(int, readyBody)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, b := mustReadyz(t, g)
		if each != nil {
			each(code, b)
		}
		if ok(code, b) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not show %s within %v: last %d %+v", what, within, code, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func echoRoute(url, extra string) string {
	return fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
%s`, url, extra)
}

// With drain_delay, SIGTERM turns /readyz to 503 at once while the client
// port keeps accepting and serving every new connection until the delay
// is over, answering with Connection: close; then the process exits
// within drain_delay + shutdown_grace. Before, the port refused
// connections a few milliseconds after SIGTERM while /readyz still said
// 200, and server.drain_delay did not exist.
func TestLameDuckAfterSIGTERM(t *testing.T) {
	const drain, grace = 2 * time.Second, 3 * time.Second
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, baseWith("  drain_delay: 2s\n  shutdown_grace: 3s", echoRoute(e.URL, "")))
	if code, b := mustReadyz(t, g); code != 200 || b.Status != "ready" {
		t.Fatalf("/readyz before SIGTERM = %d %+v, want 200 ready", code, b)
	}
	// A keep-alive connection a client opened before the signal.
	kept, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptR := bufio.NewReader(kept)
	if res := rawGet(t, kept, keptR, g.Addr, "/kept"); res.StatusCode != 200 || res.Close {
		t.Fatalf("before SIGTERM: %d, close %v; want 200 kept alive", res.StatusCode, res.Close)
	}

	sigAt := time.Now()
	g.Signal(syscall.SIGTERM)

	// A client connecting again and again during the lame duck.
	var (
		wg                    sync.WaitGroup
		served, failed        int
		lastServed            time.Duration
		firstFailure          error
		connectionCloseMissed int
	)
	wg.Go(func() {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for time.Since(sigAt) < drain-100*time.Millisecond {
			res, err := c.Get(g.URL + "/lame-duck")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					err = fmt.Errorf("status %d", res.StatusCode)
				}
			}
			if err != nil {
				failed++
				if firstFailure == nil {
					firstFailure = fmt.Errorf("at %v after SIGTERM: %w", time.Since(sigAt), err)
				}
			} else {
				served++
				lastServed = time.Since(sigAt)
				if !res.Close {
					connectionCloseMissed++
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	waitReadyz(t, g, 100*time.Millisecond, "503 after SIGTERM", func(code int, _ readyBody) bool { return code == 503 }, nil)
	if took := time.Since(sigAt); took > 100*time.Millisecond {
		t.Errorf("/readyz turned 503 %v after SIGTERM, want within 100ms", took)
	}
	if code, b := mustReadyz(t, g); code != 503 || b.Status != "not ready" || b.Reason != "shutting down" {
		t.Errorf("/readyz during the lame duck = %d %+v, want 503 not ready, shutting down", code, b)
	}
	// The kept-alive connection is served once more and told to go away.
	if res := rawGet(t, kept, keptR, g.Addr, "/kept-again"); res.StatusCode != 200 || !res.Close {
		t.Errorf("kept-alive connection during the lame duck: %d, close %v; want 200 with Connection: close", res.StatusCode, res.Close)
	}

	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of %d connections failed during the lame duck, want 0; first: %v", failed, failed+served, firstFailure)
	}
	if served < 20 || lastServed < drain-300*time.Millisecond {
		t.Errorf("%d connections served, the last %v after SIGTERM; want them served until about %v", served, lastServed, drain)
	}
	if connectionCloseMissed > 0 {
		t.Errorf("%d answers during the lame duck without Connection: close", connectionCloseMissed)
	}
	// The race detector's exit adds a little; the bound is what matters.
	if code := g.Wait(drain + grace + 500*time.Millisecond - time.Since(sigAt)); code != 0 {
		t.Fatalf("exit code %d (-1: still running %v after SIGTERM), want 0 within drain_delay + shutdown_grace", code, time.Since(sigAt))
	}
	t.Logf("exited %v after SIGTERM", time.Since(sigAt))
	if took := time.Since(sigAt); took < drain {
		t.Errorf("exited %v after SIGTERM, before drain_delay %v", took, drain)
	}
}

// A second stop signal ends the lame duck early: an operator who wants
// the process gone need not wait out drain_delay.
func TestSecondSignalEndsLameDuck(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, baseWith("  drain_delay: 30s\n  shutdown_grace: 2s", echoRoute(e.URL, "")))
	sigAt := time.Now()
	g.Signal(syscall.SIGTERM)
	waitReadyz(t, g, 100*time.Millisecond, "503 after SIGTERM", func(code int, _ readyBody) bool { return code == 503 }, nil)
	if r := get(t, g.URL+"/still-serving"); r.Status != 200 {
		t.Fatalf("request during the lame duck: %d, want 200", r.Status)
	}
	time.Sleep(300 * time.Millisecond)
	g.Signal(syscall.SIGINT)
	if code := g.Wait(3 * time.Second); code != 0 {
		t.Fatalf("exit code %d (-1: still running %v after the first signal), want 0 soon after the second", code, time.Since(sigAt))
	}
}

// rawGet sends one keep-alive request on conn and reads the answer.
func rawGet(t *testing.T, conn net.Conn, br *bufio.Reader, host, path string) *http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// Without a lame duck, /readyz is 503 from the signal on, while in-flight
// requests still drain; before, it said 200 until the admin listener
// closed.
func TestReadyzNotReadyDuringShutdownGrace(t *testing.T) {
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "slow answer")
	}))
	g := testkit.Start(t, baseWith("  shutdown_grace: 5s", echoRoute(up.URL, "")))
	done := make(chan response, 1)
	go func() { done <- get(t, g.URL+"/slow") }()
	time.Sleep(200 * time.Millisecond)
	sigAt := time.Now()
	g.Signal(syscall.SIGTERM)
	waitReadyz(t, g, 100*time.Millisecond, "503 after SIGTERM", func(code int, _ readyBody) bool { return code == 503 }, nil)
	if took := time.Since(sigAt); took > 100*time.Millisecond {
		t.Errorf("/readyz turned 503 %v after SIGTERM, want within 100ms", took)
	}
	if r := <-done; r.Status != 200 || string(r.Body) != "slow answer" {
		t.Errorf("in-flight request during shutdown: %d %q", r.Status, r.Body)
	}
	if code := g.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// A Redis outage leaves /readyz 200 with on_failure: allow (the node
// serves on, redis listed as degraded) and makes it 503 with deny (the
// node refuses rate-limited requests). Before, it was 503 in both.
func TestReadyzRedisOutage(t *testing.T) {
	for _, tt := range []struct {
		onFailure string
		down      int // /readyz while Redis is down
		served    int // a rate-limited request while Redis is down
	}{
		{onFailure: "allow", down: 200, served: 200},
		{onFailure: "deny", down: 503, served: 429},
	} {
		t.Run(tt.onFailure, func(t *testing.T) {
			rs, ok := newRedisServer(t)
			if !ok {
				t.Skip("redis-server is not installed")
			}
			rs.start()
			e := testkit.NewEcho(t, "app")
			g := testkit.Start(t, base(fmt.Sprintf("counters: {driver: redis, redis_url: %q, on_failure: %s, key_prefix: %q}\n", rs.url(), tt.onFailure, "readyz-"+tt.onFailure)+
				echoRoute(e.URL, "    rate_limit: {requests: 1000, per: 1s, key: ip}\n")))
			if code, b := mustReadyz(t, g); code != 200 || len(b.Degraded) != 0 {
				t.Fatalf("/readyz with Redis up = %d %+v, want 200 and nothing degraded", code, b)
			}
			if r := get(t, g.URL+"/x"); r.Status != 200 {
				t.Fatalf("request with Redis up: %d", r.Status)
			}

			rs.stop() // killed by PID
			if tt.onFailure == "allow" {
				waitReadyz(t, g, 3*time.Second, "redis degraded",
					func(code int, b readyBody) bool { return b.degraded("redis", "counters") },
					func(code int, b readyBody) {
						if code != 200 {
							t.Fatalf("/readyz during a Redis outage with on_failure: allow = %d %+v, want 200", code, b)
						}
					})
			} else {
				waitReadyz(t, g, 3*time.Second, "503", func(code int, b readyBody) bool { return code == 503 }, nil)
				if _, b := mustReadyz(t, g); !strings.Contains(b.Reason, "counters unreachable") {
					t.Errorf("/readyz reason %q, want it to name the counters", b.Reason)
				}
			}
			for i := range 5 {
				if r := get(t, g.URL+"/x"); r.Status != tt.served {
					t.Errorf("request %d during the outage: %d, want %d", i, r.Status, tt.served)
				}
			}

			rs.start()
			waitReadyz(t, g, 5*time.Second, "200 with nothing degraded once Redis is back",
				func(code int, b readyBody) bool { return code == 200 && len(b.Degraded) == 0 }, nil)
		})
	}
}

// A PostgreSQL outage leaves /readyz 200 with postgres listed as degraded
// storage, and requests are still served. Before, it was 503.
func TestReadyzPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := pgAddr(t, dsn)
	proxy := newTCPProxy(t, target)
	u.Host = proxy.Addr
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", u.String())+echoRoute(e.URL, "")))
	if code, b := mustReadyz(t, g); code != 200 || len(b.Degraded) != 0 {
		t.Fatalf("/readyz with PostgreSQL up = %d %+v, want 200 and nothing degraded", code, b)
	}
	proxy.cut()
	waitReadyz(t, g, 3*time.Second, "postgres degraded",
		func(code int, b readyBody) bool { return b.degraded("postgres", "storage") },
		func(code int, b readyBody) {
			if code != 200 {
				t.Fatalf("/readyz during a PostgreSQL outage = %d %+v, want 200", code, b)
			}
		})
	if r := get(t, g.URL+"/x"); r.Status != 200 {
		t.Errorf("request during the storage outage: %d, want 200", r.Status)
	}
	proxy.restore()
	waitReadyz(t, g, 5*time.Second, "nothing degraded once PostgreSQL is back",
		func(code int, b readyBody) bool { return code == 200 && !b.degraded("postgres", "storage") }, nil)
}
