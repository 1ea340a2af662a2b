package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// instance is a service instance the test can kill and bring back on the
// same address. /healthz answers 200 while it runs; every other path
// answers 200 with X-Upstream set to its name, after delay.
type instance struct {
	t     *testing.T
	name  string
	addr  string
	URL   string
	hits  atomic.Int32
	posts atomic.Int32
	// status, when set, is the answer to non-health requests.
	status atomic.Int32
	delay  atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

func newInstance(t *testing.T, name string) *instance {
	t.Helper()
	in := &instance{t: t, name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = ln.Addr().String()
	in.URL = "http://" + in.addr
	in.serve(ln)
	t.Cleanup(in.kill)
	return in
}

func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		return
	}
	in.hits.Add(1)
	if r.Method == http.MethodPost {
		in.posts.Add(1)
	}
	if d := time.Duration(in.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Upstream", in.name)
	if s := in.status.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
	fmt.Fprintln(w, in.name)
}

func (in *instance) serve(ln net.Listener) {
	srv := &http.Server{Handler: in}
	in.mu.Lock()
	in.srv = srv
	in.mu.Unlock()
	go srv.Serve(ln)
}

// kill closes the listener and every connection, like a crashed process.
func (in *instance) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.srv != nil {
		in.srv.Close()
		in.srv = nil
	}
}

// revive listens on the same address again.
func (in *instance) revive() {
	in.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", in.addr)
		if err == nil {
			in.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("relisten on %s: %v", in.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// upstreamConfig is one route "/" to upstream "svc" with the given extra
// upstream keys (indented four spaces) over the instances.
func upstreamConfig(extra string, weights []int, ins ...*instance) string {
	var b strings.Builder
	for i, in := range ins {
		w := 1
		if weights != nil {
			w = weights[i]
		}
		fmt.Fprintf(&b, "      - {url: %q, weight: %d}\n", in.URL, w)
	}
	return base(fmt.Sprintf(`upstreams:
  svc:
    targets:
%s%s
routes:
  - name: svc
    match: {path_prefix: /}
    upstream: svc
`, b.String(), extra))
}

type adminTarget struct {
	URL          string     `json:"url"`
	Weight       int        `json:"weight"`
	State        string     `json:"state"`
	EjectedUntil *time.Time `json:"ejected_until"`
	InFlight     int64      `json:"in_flight"`
	EWMAMs       float64    `json:"ewma_ms"`
}

// targets returns /admin/upstreams' view of upstream svc by target URL.
func targets(t *testing.T, g *testkit.Gantry) map[string]adminTarget {
	t.Helper()
	status, body := g.Admin("GET", "/admin/upstreams", "")
	if status != 200 {
		t.Fatalf("/admin/upstreams = %d %s", status, body)
	}
	var res struct {
		Upstreams []struct {
			Name    string        `json:"name"`
			Targets []adminTarget `json:"targets"`
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("/admin/upstreams: %v: %s", err, body)
	}
	out := map[string]adminTarget{}
	for _, u := range res.Upstreams {
		if u.Name == "svc" {
			for _, tg := range u.Targets {
				out[tg.URL] = tg
			}
		}
	}
	return out
}

// waitState waits until the admin API shows the target in state and
// returns how long that took.
func waitState(t *testing.T, g *testkit.Gantry, url, state string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if targets(t, g)[url].State == state {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("target %s not %s within %v: %+v", url, state, within, targets(t, g)[url])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// healthGauge returns gantry_upstream_healthy for svc's target, -1 if absent.
func healthGauge(t *testing.T, g *testkit.Gantry, target string) float64 {
	t.Helper()
	status, body := g.Admin("GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "gantry_upstream_healthy{") && strings.Contains(line, `target="`+target+`"`) && strings.Contains(line, `upstream="svc"`) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v
		}
	}
	return -1
}

// load sends GETs from workers until stop is closed and counts the answers
// by status (0 for a transport error).
func load(t *testing.T, url string, workers int, stop <-chan struct{}) func() map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				status := 0
				if resp, err := client.Get(url); err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	return func() map[int]int {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return counts
	}
}

func TestBalancerWeightedDistribution(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	g := testkit.Start(t, upstreamConfig("", []int{3, 1}, a, b))
	const n = 10000
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			for range n / 8 {
				resp, err := client.Get(g.URL + "/orders/" + strconv.Itoa(w))
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), n)
	}
	if share := float64(a.hits.Load()) / n; share < 0.73 || share > 0.77 {
		t.Errorf("weight 3:1: a got %d and b %d of %d (%.3f), want 0.75 ± 0.02", a.hits.Load(), b.hits.Load(), n, share)
	}
}

func TestBalancerHashSticky(t *testing.T) {
	ins := []*instance{newInstance(t, "a"), newInstance(t, "b"), newInstance(t, "c")}
	g := testkit.Start(t, upstreamConfig("    balancer: hash\n    hash_on: header:X-User-ID\n", nil, ins...))
	seen := map[string]bool{}
	for i := range 30 {
		user := fmt.Sprintf("user-%d", i)
		first := get(t, g.URL+"/profile", "X-User-ID: "+user).Header.Get("X-Upstream")
		for range 5 {
			if got := get(t, g.URL+"/profile", "X-User-ID: "+user).Header.Get("X-Upstream"); got != first {
				t.Fatalf("%s went to %s, then %s", user, first, got)
			}
		}
		seen[first] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 users landed on %v, want all three targets used", seen)
	}
}

func TestBalancerLeastConnPrefersIdle(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	g := testkit.Start(t, upstreamConfig("    balancer: least_conn\n", nil, a, b))
	a.delay.Store(int64(2 * time.Second))
	// Send requests until one is held by a; those that land on b finish
	// at once.
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for a.hits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request reached a")
		}
		wg.Go(func() { get(t, g.URL+"/report") })
		time.Sleep(20 * time.Millisecond)
	}
	bBefore := b.hits.Load()
	for range 20 {
		if r := get(t, g.URL+"/fast"); r.Status != 200 {
			t.Fatalf("GET = %d", r.Status)
		}
	}
	if got := b.hits.Load() - bBefore; got != 20 {
		t.Errorf("idle b got %d of 20 requests while a was busy, want 20", got)
	}
	if got := targets(t, g)[a.URL].InFlight; got != 1 {
		t.Errorf("admin in_flight of the busy target = %d, want 1", got)
	}
	wg.Wait()
}

func TestBalancerP2CAvoidsSlowTarget(t *testing.T) {
	slow, f1, f2 := newInstance(t, "slow"), newInstance(t, "fast1"), newInstance(t, "fast2")
	slow.delay.Store(int64(50 * time.Millisecond))
	g := testkit.Start(t, upstreamConfig("    balancer: p2c_ewma\n", nil, slow, f1, f2))
	stop := make(chan struct{})
	wait := load(t, g.URL+"/items", 4, stop)
	time.Sleep(2 * time.Second)
	close(stop)
	counts := wait()
	total := slow.hits.Load() + f1.hits.Load() + f2.hits.Load()
	if counts[200] != int(total) {
		t.Errorf("answers %v, want %d 200s", counts, total)
	}
	if share := float64(slow.hits.Load()) / float64(total); share > 0.1 {
		t.Errorf("slow target got %d of %d requests (%.0f%%), want under 10%%", slow.hits.Load(), total, share*100)
	}
	if ewma := targets(t, g)[slow.URL].EWMAMs; ewma < 40 {
		t.Errorf("admin ewma_ms of the slow target = %v, want about 50", ewma)
	}
}

func TestActiveHealthChecks(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	const interval, unhealthyAfter = 200 * time.Millisecond, 2
	g := testkit.Start(t, upstreamConfig(fmt.Sprintf(`    health_check: {path: /healthz, interval: %s, timeout: 100ms, unhealthy_after: %d, healthy_after: 2}
`, interval, unhealthyAfter), nil, a, b))
	if got := healthGauge(t, g, a.URL); got != 1 {
		t.Fatalf("gantry_upstream_healthy of a = %v at start, want 1", got)
	}
	a.kill()
	// No traffic, so only the active checks can notice.
	took := waitState(t, g, a.URL, "unhealthy", 5*time.Second)
	if limit := interval*unhealthyAfter + interval; took > limit {
		t.Errorf("taken out after %v, want within interval x unhealthy_after (+ one interval of phase): %v", took, limit)
	}
	if got := healthGauge(t, g, a.URL); got != 0 {
		t.Errorf("gantry_upstream_healthy of a = %v while down, want 0", got)
	}
	for range 20 {
		if r := get(t, g.URL+"/x"); r.Status != 200 || r.Header.Get("X-Upstream") != "b" {
			t.Fatalf("GET with a down = %d from %q, want 200 from b", r.Status, r.Header.Get("X-Upstream"))
		}
	}
	// A reload keeps what the checks found.
	if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
		t.Fatalf("reload = %d %s", status, body)
	}
	if got := targets(t, g)[a.URL].State; got != "unhealthy" {
		t.Errorf("state of a right after a reload = %q, want unhealthy", got)
	}
	a.revive()
	waitState(t, g, a.URL, "healthy", 5*time.Second)
	if got := healthGauge(t, g, a.URL); got != 1 {
		t.Errorf("gantry_upstream_healthy of a = %v after it came back, want 1", got)
	}
	a.hits.Store(0)
	for range 20 {
		get(t, g.URL+"/x")
	}
	if a.hits.Load() == 0 {
		t.Error("a gets no traffic after it came back")
	}
	// Every target down: 503 at once.
	a.kill()
	b.kill()
	waitState(t, g, a.URL, "unhealthy", 5*time.Second)
	waitState(t, g, b.URL, "unhealthy", 5*time.Second)
	start := time.Now()
	r := get(t, g.URL+"/x")
	if r.Status != 503 || r.gwError(t).Error != "no_healthy_upstream" {
		t.Errorf("GET with every target down = %d %s, want 503 no_healthy_upstream", r.Status, r.Body)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("503 took %v, want at once", d)
	}
}

func TestPassiveEjection(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	g := testkit.Start(t, upstreamConfig(`    passive: {failures: 2, eject_for: 1s}
    health_check: {path: /healthz, interval: 10s, timeout: 1s}
`, nil, a, b))
	a.status.Store(http.StatusInternalServerError)
	fails := 0
	for range 20 {
		if r := get(t, g.URL+"/x"); r.Status != 200 {
			fails++
		}
	}
	// Ejected long before the 10s health checks could notice.
	tg := targets(t, g)[a.URL]
	if tg.State != "ejected" || tg.EjectedUntil == nil || time.Until(*tg.EjectedUntil) > time.Second {
		t.Fatalf("a after 2 failures = %+v, want ejected for up to 1s", tg)
	}
	if fails != 2 || a.hits.Load() != 2 {
		t.Errorf("%d failed answers and %d hits on a, want 2 and 2 (then ejected)", fails, a.hits.Load())
	}
	if got := healthGauge(t, g, a.URL); got != 0 {
		t.Errorf("gantry_upstream_healthy of an ejected target = %v, want 0", got)
	}
	a.status.Store(0)
	waitState(t, g, a.URL, "healthy", 3*time.Second)
	a.hits.Store(0)
	for range 10 {
		get(t, g.URL+"/x")
	}
	if a.hits.Load() == 0 {
		t.Error("a gets no traffic after its ejection ended")
	}
}

func TestRetriesHideADyingTarget(t *testing.T) {
	ins := []*instance{newInstance(t, "a"), newInstance(t, "b"), newInstance(t, "c")}
	g := testkit.Start(t, upstreamConfig(`    retries: 2
    passive: {failures: 2, eject_for: 30s}
    health_check: {path: /healthz, interval: 500ms, timeout: 200ms, unhealthy_after: 2, healthy_after: 2}
`, nil, ins...))
	stop := make(chan struct{})
	wait := load(t, g.URL+"/catalog", 8, stop)
	time.Sleep(500 * time.Millisecond)
	ins[1].kill()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	counts := wait()
	if len(counts) != 1 || counts[200] == 0 {
		t.Fatalf("answers while one of three targets died: %v, want only 200s", counts)
	}
	if got := targets(t, g)[ins[1].URL].State; got == "healthy" {
		t.Errorf("dead target state = %q, want ejected or unhealthy", got)
	}
}

func TestPOSTIsNeverRetried(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	a.status.Store(http.StatusServiceUnavailable)
	g := testkit.Start(t, upstreamConfig("    retries: 2\n", nil, a, b))
	failed := 0
	for range 10 {
		if r := do(t, "POST", g.URL+"/orders", `{"sku":"A-1"}`); r.Status == 503 {
			failed++
		}
	}
	if a.posts.Load() != 5 || b.posts.Load() != 5 || failed != 5 {
		t.Errorf("POSTs: a saw %d, b saw %d, %d answered 503; want 5, 5, 5 (no retries)", a.posts.Load(), b.posts.Load(), failed)
	}
	// GETs are retried (a few: the retry budget of a new upstream is 3).
	a.hits.Store(0)
	for range 4 {
		if r := get(t, g.URL+"/orders"); r.Status != 200 {
			t.Errorf("GET = %d, want 200 after a retry", r.Status)
		}
	}
	if a.hits.Load() == 0 {
		t.Error("the failing target saw no GET; the test proves nothing")
	}
}

func TestRetryNonIdempotentOptIn(t *testing.T) {
	a, b := newInstance(t, "a"), newInstance(t, "b")
	a.status.Store(http.StatusServiceUnavailable)
	cfg := strings.Replace(upstreamConfig("    retries: 1\n", nil, a, b), "    upstream: svc\n", "    upstream: svc\n    retry_non_idempotent: true\n", 1)
	g := testkit.Start(t, cfg)
	for range 6 {
		if r := do(t, "POST", g.URL+"/orders", `{"sku":"A-1"}`); r.Status != 200 {
			t.Errorf("POST on an opted-in route = %d, want 200 after a retry", r.Status)
		}
	}
}

func TestRetryBudgetCapsRetries(t *testing.T) {
	ins := []*instance{newInstance(t, "a"), newInstance(t, "b"), newInstance(t, "c")}
	for _, in := range ins {
		in.status.Store(http.StatusServiceUnavailable)
	}
	g := testkit.Start(t, upstreamConfig("    retries: 2\n", nil, ins...))
	const n = 300
	start := time.Now()
	for range n {
		if r := get(t, g.URL+"/x"); r.Status != 503 {
			t.Fatalf("GET = %d, want the upstream's 503", r.Status)
		}
	}
	hits := ins[0].hits.Load() + ins[1].hits.Load() + ins[2].hits.Load()
	retries := float64(hits - n)
	// 20% of the requests plus 3 a second, and the 3 a new budget holds.
	if limit := n*0.2 + 3*time.Since(start).Seconds() + 4; retries > limit {
		t.Errorf("%d requests caused %.0f retries, want at most %.0f", n, retries, limit)
	}
}

func TestSlowTargetTimesOut(t *testing.T) {
	slow := newInstance(t, "slow")
	slow.delay.Store(int64(5 * time.Second))
	g := testkit.Start(t, upstreamConfig("    retries: 2\n    timeouts: {response: 300ms}\n", nil, slow))
	start := time.Now()
	r := get(t, g.URL+"/x")
	took := time.Since(start)
	if r.Status != 504 || r.gwError(t).Error != "upstream_timeout" {
		t.Fatalf("slow target: %d %s, want 504 upstream_timeout", r.Status, r.Body)
	}
	if took < 300*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("504 after %v, want at the 300ms timeout (no retry of a timeout)", took)
	}
}

func TestAdminUpstreamsAndReloads(t *testing.T) {
	a, b, c := newInstance(t, "a"), newInstance(t, "b"), newInstance(t, "c")
	g := testkit.Start(t, upstreamConfig("", nil, a, b))
	for range 10 {
		get(t, g.URL+"/x")
	}
	ts := targets(t, g)
	if len(ts) != 2 || ts[a.URL].State != "healthy" || ts[a.URL].Weight != 1 || ts[a.URL].EWMAMs <= 0 || ts[a.URL].InFlight != 0 {
		t.Fatalf("/admin/upstreams targets = %+v, want a and b healthy with an EWMA", ts)
	}
	// Swap b for c and back, many times: removed targets leave no state
	// and no health series behind.
	for i := range 20 {
		from, to := b.URL, c.URL
		if i%2 == 1 {
			from, to = c.URL, b.URL
		}
		rewriteConfig(t, g.ConfigPath, from, to)
		if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
			t.Fatalf("reload = %d %s", status, body)
		}
	}
	ts = targets(t, g)
	if len(ts) != 2 || ts[b.URL].State != "healthy" {
		t.Errorf("after reloads targets = %+v, want a and b", ts)
	}
	if got := healthGauge(t, g, c.URL); got != -1 {
		t.Errorf("gantry_upstream_healthy of a removed target = %v, want no series", got)
	}
	if got := healthGauge(t, g, b.URL); got != 1 {
		t.Errorf("gantry_upstream_healthy of b = %v, want 1", got)
	}
	// Per-target request counters.
	status, body := g.Admin("GET", "/metrics", "")
	if status != 200 || !bytes.Contains(body, []byte(`gantry_upstream_requests_total{status="200",target="`+a.URL+`",upstream="svc"}`)) {
		t.Errorf("no gantry_upstream_requests_total series for a in /metrics")
	}
}
