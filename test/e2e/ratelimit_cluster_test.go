package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// ownRedis starts a redis-server of the test's own on a free loopback port
// and returns its URL; it is stopped when the test ends. ok is false when
// redis-server is not installed.
func ownRedis(t *testing.T) (url string, ok bool) {
	t.Helper()
	rs, ok := newRedisServer(t)
	if !ok {
		return "", false
	}
	rs.start()
	return rs.url(), true
}

// redisServer is a redis-server process on a fixed loopback port, which a
// test may stop and start again; it is stopped when the test ends.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

// newRedisServer picks a port; ok is false when redis-server is not
// installed.
func newRedisServer(t *testing.T) (*redisServer, bool) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, false
	}
	rs := &redisServer{t: t, bin: bin, port: freePort(t)}
	t.Cleanup(rs.stop)
	return rs, true
}

func (rs *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port) }

// start runs the server and waits until it accepts connections.
func (rs *redisServer) start() {
	rs.t.Helper()
	rs.cmd = exec.Command(rs.bin, "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := rs.cmd.Start(); err != nil {
		rs.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", rs.port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			rs.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server if it runs.
func (rs *redisServer) stop() {
	if rs.cmd != nil && rs.cmd.ProcessState == nil {
		rs.cmd.Process.Kill()
		rs.cmd.Wait()
	}
}

// running reports whether the server was started and not stopped.
func (rs *redisServer) running() bool { return rs.cmd != nil && rs.cmd.ProcessState == nil }

// redisMonitor watches a Redis with MONITOR and counts the commands its
// clients send. INFO commandstats would not do: it also counts every
// command a Lua script runs, and one lease script runs several.
type redisMonitor struct {
	rdb   *redis.Client
	conn  net.Conn
	mu    sync.Mutex
	lines []string
	err   error
}

func newRedisMonitor(t *testing.T, url string) *redisMonitor {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", opt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &redisMonitor{rdb: redis.NewClient(opt), conn: conn}
	t.Cleanup(func() {
		conn.Close()
		m.rdb.Close()
	})
	r := bufio.NewReader(conn)
	if opt.Password != "" {
		conn.Write(resp("AUTH", opt.Username, opt.Password))
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("AUTH for MONITOR: %q %v", line, err)
		}
	}
	conn.Write(resp("MONITOR"))
	go func() {
		for {
			line, err := r.ReadString('\n')
			m.mu.Lock()
			if err != nil {
				m.err = err
				m.mu.Unlock()
				return
			}
			m.lines = append(m.lines, strings.TrimSpace(line))
			m.mu.Unlock()
		}
	}()
	return m
}

// resp encodes a command as a RESP array of bulk strings, leaving out
// empty arguments.
func resp(args ...string) []byte {
	var parts []string
	for _, a := range args {
		if a != "" {
			parts = append(parts, fmt.Sprintf("$%d\r\n%s\r\n", len(a), a))
		}
	}
	return []byte(fmt.Sprintf("*%d\r\n%s", len(parts), strings.Join(parts, "")))
}

// mark sends a marker through Redis and waits until the monitor has seen
// it, so that every command before it has been seen too.
func (m *redisMonitor) mark(t *testing.T, marker string) {
	t.Helper()
	if err := m.rdb.Echo(context.Background(), marker).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; {
		m.mu.Lock()
		seen := false
		for ; !seen && i < len(m.lines); i++ {
			seen = strings.Contains(m.lines[i], `"`+marker+`"`)
		}
		err := m.err
		m.mu.Unlock()
		if seen {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("MONITOR did not show marker %s: %v", marker, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// between counts the commands clients sent after marker from and before
// marker to; when only is set, just those that name it (a key prefix).
// Commands run by scripts ("[0 lua]") are not round trips.
func (m *redisMonitor) between(from, to, only string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	in := false
	for _, l := range m.lines {
		switch {
		case strings.Contains(l, `"`+from+`"`):
			in = true
		case strings.Contains(l, `"`+to+`"`):
			return n
		case in && !strings.Contains(l, " lua] ") && (only == "" || strings.Contains(l, only)):
			n++
		}
	}
	return n
}

// TestBatchedLimitAcrossNodes: three gateways in batched sync share one
// Redis and receive five times a route's limit for four seconds. Together
// they admit no more than docs/rate-limits.md's bound for batched mode,
// B + R·D + N·L in any interval D, and talk to Redis less than once per
// ten admitted requests.
//
// A node makes one round trip per lease. Leases start at one token and
// double up to L = ⌈R·W⌉ (R the rate, W the batch_window), so the first
// burst costs each node about six round trips, and then one per L
// admitted. Fewer than 0.1 commands per admitted request therefore need L
// well above 10: with W = 50ms, R > 200/s, and five times that is more
// than three gateways built with -race serve on a small machine. R = 100/s
// and W = 300ms give L = 30 at a load they can take.
func TestBatchedLimitAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for four seconds")
	}
	// Commands are counted on a Redis of the test's own: on a shared one
	// only those naming the test's key prefix can be told apart.
	url, own := ownRedis(t)
	if !own {
		url = redisURL(t)
	}
	prefix := redisPrefix(t, url)
	mon := newRedisMonitor(t, url)
	only := prefix
	if own {
		only = ""
	}

	const (
		nodes  = 3
		rate   = 100.0 // R, requests per second
		burstB = 100.0 // B
		window = 300 * time.Millisecond
		run    = 4 * time.Second
		offer  = 5 * rate // requests per second, over every node
	)
	lease := math.Min(math.Max(1, math.Ceil(rate*window.Seconds())), burstB) // L
	var hits atomic.Int64
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	cfg := base(fmt.Sprintf(`counters: {driver: redis, redis_url: %q, sync: batched, batch_window: %v, key_prefix: %q}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: shared
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: %d, per: 1s, burst: %d, key: header:X-Tenant}
`, url, window, prefix, up.URL, int(rate), int(burstB)))
	var gs []*testkit.Gantry
	for range nodes {
		gs = append(gs, testkit.Start(t, cfg))
	}
	// Each node connects to Redis and loads its scripts on its first
	// decision; a request of another tenant does that outside the count.
	for i, g := range gs {
		if s := get(t, g.URL+"/warm", "X-Tenant: warm-"+strconv.Itoa(i)).Status; s != 200 {
			t.Fatalf("warm-up on node %d: %d", i, s)
		}
	}
	hits.Store(0)
	mon.mark(t, prefix+"-start")

	// Open loop: every worker sends its share of offer, catching up when a
	// request took longer than its share's interval.
	const workers = 4 // per node
	perWorker := offer / (nodes * workers)
	var admitted, refused, attempts atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, g := range gs {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent := 0
				for {
					el := time.Since(start)
					if el >= run {
						return
					}
					for due := int(el.Seconds() * perWorker); sent < due && time.Since(start) < run; sent++ {
						attempts.Add(1)
						switch s := get(t, g.URL+"/x", "X-Tenant: initech").Status; s {
						case 200:
							admitted.Add(1)
						case 429:
							refused.Add(1)
						default:
							t.Errorf("status %d", s)
						}
					}
					time.Sleep(time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	d := time.Since(start)
	// Idle leases are settled after two windows; count those commands too.
	time.Sleep(4 * window)
	mon.mark(t, prefix+"-end")
	cmds := mon.between(prefix+"-start", prefix+"-end", only)

	a := float64(admitted.Load())
	exact := burstB + rate*d.Seconds()
	bound := exact + nodes*lease
	t.Logf("%d attempts in %v (%.0f/s offered of %.0f/s wanted): admitted %.0f, refused %d, exact mode allows %.0f (%+.2f%%), batched bound %.0f; %d Redis commands, %.4f per admitted request",
		attempts.Load(), d.Round(time.Millisecond), float64(attempts.Load())/d.Seconds(), offer, a, refused.Load(), exact, 100*(a-exact)/exact, bound, cmds, float64(cmds)/a)
	if a > bound {
		t.Fatalf("admitted %.0f in %v, want at most B + R·D + N·L = %.0f", a, d, bound)
	}
	if got := hits.Load(); got != admitted.Load() {
		t.Errorf("upstream saw %d requests, gateways admitted %d", got, admitted.Load())
	}
	// The test means something only when the limit is well exceeded.
	if float64(attempts.Load()) < 2*exact {
		t.Fatalf("only %d attempts against an allowance of %.0f: the machine could not overload the limit", attempts.Load(), exact)
	}
	// Undershoot is bounded by leases held for a few windows by nodes that
	// do not need them; a machine that stalls the gateways widens it, so
	// this only catches a gateway that stops admitting.
	if a < 0.8*exact {
		t.Errorf("admitted %.0f, want close to the %.0f exact mode allows", a, exact)
	}
	if r := float64(cmds) / a; r >= 0.1 {
		t.Errorf("%.3f Redis commands per admitted request, want < 0.1 (about 1/L = %.3f)", r, 1/lease)
	}
}

// TestRedisQuotaSurvivesRestart: with the Redis driver the quota count
// lives in Redis, so a used-up quota stays used up when the gateway is
// killed and started again, even on empty storage.
func TestRedisQuotaSurvivesRestart(t *testing.T) {
	url := redisURL(t)
	e := testkit.NewEcho(t, "app")
	for _, mode := range []string{"exact", "batched"} {
		t.Run(mode, func(t *testing.T) {
			prefix := redisPrefix(t, url)
			cfg := func(db string) string {
				return base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
counters: {driver: redis, redis_url: %q, sync: %s, key_prefix: %q}
plans:
  tiny:
    quota: {requests: 3, per: month}
consumers:
  - id: acme
    plan: tiny
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: app
    auth: [api_key]
`, db, url, mode, prefix, e.URL))
			}
			key := "X-API-Key: acme-key-0123456789"
			g := testkit.Start(t, cfg(filepath.Join(t.TempDir(), "first.db")))
			for i, want := range []int{200, 200, 200, 429} {
				r := get(t, g.URL+"/x", key)
				if r.Status != want {
					t.Fatalf("request %d: %d, want %d (%s)", i, r.Status, want, r.Body)
				}
				if want == 429 && r.gwError(t).Error != "quota_exceeded" {
					t.Fatalf("request %d: %s, want quota_exceeded", i, r.Body)
				}
			}
			// A kill saves nothing to storage, and the next gateway gets
			// another database: only Redis remembers the count.
			g.Signal(syscall.SIGKILL)
			g.Wait(10 * time.Second)
			if g.Cmd.Process.Signal(syscall.Signal(0)) == nil {
				t.Fatal("gateway still running after SIGKILL")
			}
			g2 := testkit.Start(t, cfg(filepath.Join(t.TempDir(), "second.db")))
			r := get(t, g2.URL+"/x", key)
			if r.Status != 429 || r.gwError(t).Error != "quota_exceeded" {
				t.Fatalf("after restart: %d %s, want 429 quota_exceeded", r.Status, r.Body)
			}
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 31*86400 {
				t.Fatalf("after restart: Retry-After %q, want the seconds to the end of the UTC month", r.Header.Get("Retry-After"))
			}
		})
	}
}
