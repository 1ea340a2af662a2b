package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// newTestPool builds a pool of targets http://127.0.0.1:9101, :9102, ...
// with the given weights, on a private State.
func newTestPool(tb testing.TB, weights ...int) *Pool {
	tb.Helper()
	return newPoolOn(tb, nil, &config.Upstream{}, weights...)
}

func newPoolOn(tb testing.TB, st *State, cfg *config.Upstream, weights ...int) *Pool {
	tb.Helper()
	for i, w := range weights {
		cfg.Targets = append(cfg.Targets, &config.Target{URL: fmt.Sprintf("http://127.0.0.1:%d", 9101+i), Weight: w})
	}
	p, err := NewPool("users", cfg, st)
	if err != nil {
		tb.Fatalf("NewPool() error: %v", err)
	}
	return p
}

// gauge reads gantry_upstream_healthy{upstream,target}: 1, 0, or -1 when
// the series does not exist.
func gauge(t *testing.T, m *telemetry.Metrics, upstream, target string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gantry_upstream_healthy" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range mt.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["upstream"] == upstream && l["target"] == target {
				return mt.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func TestPickTried(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"round_robin", "least_conn", "p2c_ewma", "hash"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := newPoolOn(t, nil, &config.Upstream{Balancer: kind, HashOn: "ip"}, 1, 1, 1)
			ts := p.Targets()
			for range 50 {
				got, err := p.Pick(nil, ts[:1])
				if err != nil || got == ts[0] {
					t.Fatalf("Pick(tried a) = %v, %v; want b or c", got, err)
				}
				got, err = p.Pick(nil, ts[1:])
				if err != nil || got != ts[0] {
					t.Fatalf("Pick(tried b, c) = %v, %v; want a", got, err)
				}
			}
			if _, err := p.Pick(nil, ts); !errors.Is(err, ErrNoHealthyUpstream) {
				t.Fatalf("Pick(tried all) error = %v, want ErrNoHealthyUpstream", err)
			}
			// A target of another pool is not this pool's, even with the same URL.
			other := newTestPool(t, 1, 1, 1)
			if _, err := p.Pick(nil, other.Targets()); err != nil {
				t.Fatalf("Pick(tried of another pool) error = %v", err)
			}
		})
	}
}

func TestStateSurvivesReload(t *testing.T) {
	t.Parallel()
	st := NewState(StateOptions{})
	cfg := func() *config.Upstream {
		return &config.Upstream{Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)}}
	}
	p1 := newPoolOn(t, st, cfg(), 1, 1, 1)
	p1.Targets()[0].SetHealthy(false)
	p1.Targets()[1].Begin()
	p1.Targets()[1].Report(40*time.Millisecond, 200, Success)
	p1.Targets()[2].Report(time.Millisecond, 503, Failure)

	p2 := newPoolOn(t, st, cfg(), 1, 1, 1)
	ts := p2.Targets()
	if ts[0] == p1.Targets()[0] {
		t.Fatal("a new pool shares Target values with the old one; want new targets on shared state")
	}
	if ts[0].Healthy() {
		t.Error("target a is healthy after a reload, want the old unhealthy verdict")
	}
	if got := ts[1].InFlight(); got != 1 {
		t.Errorf("target b InFlight() = %d after a reload, want 1", got)
	}
	if got := ts[1].Status().EWMA; got < 39*time.Millisecond || got > 40*time.Millisecond {
		t.Errorf("target b EWMA = %v after a reload, want about 40ms", got)
	}
	if got := ts[2].Status().State; got != "ejected" {
		t.Errorf("target c state = %q after a reload, want ejected", got)
	}
	p1.Targets()[1].Done()
	if got := ts[1].InFlight(); got != 0 {
		t.Errorf("InFlight() = %d after the old generation's attempt ended, want 0", got)
	}
}

func TestRetainAcrossReloads(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics()
	st := NewState(StateOptions{Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 1000 {
		cfg := &config.Upstream{Targets: []*config.Target{
			{URL: "http://127.0.0.1:9101", Weight: 1},
			{URL: fmt.Sprintf("http://10.0.%d.%d:8080", i/250, i%250), Weight: 1},
		}}
		p, err := NewPool("users", cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		p.Start(ctx)
		st.Retain(p.Keys())
	}
	if got := st.Len(); got != 2 {
		t.Errorf("State.Len() after 1,000 reloads = %d, want 2", got)
	}
	if got := gauge(t, m, "users", "http://10.0.0.1:8080"); got != -1 {
		t.Errorf("a removed target keeps its health series (%v)", got)
	}
	if got := gauge(t, m, "users", "http://127.0.0.1:9101"); got != 1 {
		t.Errorf("gantry_upstream_healthy of a kept target = %v, want 1", got)
	}
}

func TestPassiveEjection(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics()
	st := NewState(StateOptions{Metrics: m})
	p := newPoolOn(t, st, &config.Upstream{Passive: &config.Passive{Failures: 3, EjectFor: config.Duration(150 * time.Millisecond)}}, 1, 1)
	p.Start(context.Background())
	a := p.Targets()[0]
	fail := func() { a.Report(time.Millisecond, 0, Failure) }
	fail()
	fail()
	a.Report(time.Millisecond, 200, Success) // resets the count
	fail()
	fail()
	a.Report(time.Millisecond, 0, Canceled) // says nothing
	if !a.Healthy() {
		t.Fatal("target ejected before 3 consecutive failures")
	}
	fail()
	if a.Healthy() {
		t.Fatal("target not ejected after 3 consecutive failures")
	}
	s := a.Status()
	if s.State != "ejected" || time.Until(s.EjectedUntil) > 150*time.Millisecond || time.Until(s.EjectedUntil) <= 0 {
		t.Errorf("Status() = %+v, want ejected for up to 150ms", s)
	}
	if g := gauge(t, m, "users", a.Name); g != 0 {
		t.Errorf("gantry_upstream_healthy = %v while ejected, want 0", g)
	}
	for range 20 {
		if got, err := p.Pick(nil, nil); err != nil || got == a {
			t.Fatalf("Pick() = %v, %v while a is ejected", got, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for !a.Healthy() || gauge(t, m, "users", a.Name) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("target not back 2s after a 150ms ejection: %+v", a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.Status().State; got != "healthy" {
		t.Errorf("state after ejection = %q, want healthy", got)
	}
}

func TestProbeThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                         string
		unhealthyAfter, healthyAfter int
		probes                       string // + pass, - fail
		want                         string // health after each probe: H or U
	}{
		{"3 down 2 up", 3, 2, "--+--- ++-++", "HHHHHU UHHHH"},
		{"1 and 1", 1, 1, "-+-+", "UHUH"},
		{"success resets failures", 2, 3, "-+-+-- +++", "HHHHHU UUH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTargetState(Key{"users", "http://127.0.0.1:9101"}, nil)
			got := []byte{}
			for _, c := range []byte(tt.probes) {
				if c == ' ' {
					got = append(got, ' ')
					continue
				}
				ts.probe(c == '+', tt.unhealthyAfter, tt.healthyAfter)
				if ts.Available() {
					got = append(got, 'H')
				} else {
					got = append(got, 'U')
				}
			}
			if string(got) != tt.want {
				t.Errorf("health after probes %q = %q, want %q", tt.probes, got, tt.want)
			}
		})
	}
}

func TestPeakEWMA(t *testing.T) {
	t.Parallel()
	ts := newTargetState(Key{"users", "x"}, nil)
	if ts.Cost() != 0 {
		t.Fatalf("Cost() of a new target = %v, want 0", ts.Cost())
	}
	ts.observe(50*time.Millisecond, monoNow())
	if got := time.Duration(ts.Cost()); got < 49*time.Millisecond || got > 50*time.Millisecond {
		t.Errorf("Cost() after a 50ms sample = %v, want 50ms (peak)", got)
	}
	// A fast sample right after barely moves a peak estimate.
	ts.observe(time.Millisecond, monoNow())
	if got := time.Duration(ts.Cost()); got < 45*time.Millisecond {
		t.Errorf("Cost() after 50ms then 1ms = %v, want still about 50ms", got)
	}
	// Ten seconds later the estimate has decayed by 1/e.
	ts.stamp.Add(-int64(decay))
	if got := time.Duration(ts.Cost()); got < 16*time.Millisecond || got > 20*time.Millisecond {
		t.Errorf("Cost() one decay period later = %v, want about 18ms", got)
	}
	ts.observe(time.Millisecond, monoNow())
	// 50ms/e + 1ms*(1-1/e).
	if got := time.Duration(ts.Cost()); got < 18*time.Millisecond || got > 20*time.Millisecond {
		t.Errorf("Cost() after a 1ms sample one period later = %v, want about 19ms", got)
	}
	// An attempt that read the clock before the last observer's does
	// not move the stamp back, and counts no elapsed time.
	stamp, cost := ts.stamp.Load(), ts.Cost()
	ts.observe(time.Millisecond, stamp-int64(decay))
	if got := ts.stamp.Load(); got != stamp {
		t.Errorf("stamp moved from %d to %d by an earlier reading", stamp, got)
	}
	if got := ts.Cost(); got < cost*0.99 {
		t.Errorf("Cost() after an out-of-order 1ms sample = %v, want about %v (no decay)", time.Duration(got), time.Duration(cost))
	}
	tg, _ := newTarget("http://127.0.0.1:9101", 1)
	tg.Report(time.Millisecond, 0, Failure)
	if got := time.Duration(tg.Cost()); got < failurePenalty*99/100 {
		t.Errorf("Cost() after a fast failure = %v, want the %v penalty", got, failurePenalty)
	}
}

func TestRetryBudget(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	b := newRetryBudget(func() time.Time { return now })
	take := func() int {
		n := 0
		for b.Withdraw() {
			n++
		}
		return n
	}
	if got := take(); got != BudgetMinPerSec {
		t.Errorf("a new budget allows %d retries, want %d", got, BudgetMinPerSec)
	}
	for range 100 {
		b.Deposit()
	}
	if got := take(); got != 20 {
		t.Errorf("100 requests allow %d retries, want 20", got)
	}
	now = now.Add(time.Second)
	if got := take(); got != BudgetMinPerSec {
		t.Errorf("one quiet second allows %d retries, want %d", got, BudgetMinPerSec)
	}
	now = now.Add(time.Hour)
	for range 10000 {
		b.Deposit()
	}
	if got := take(); got != 30 {
		t.Errorf("a full budget allows %d retries, want the cap of 30", got)
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	b := newRetryBudget(func() time.Time { return now })
	var mu sync.Mutex
	granted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			n := 0
			for range 1000 {
				b.Deposit()
				if b.Withdraw() {
					n++
				}
			}
			mu.Lock()
			granted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if max := 8000/5 + BudgetMinPerSec; granted > max || granted < max-2 {
		t.Errorf("8,000 requests got %d retries, want about %d", granted, max)
	}
}

// TestRetryBudgetSurvivesReload spends an upstream's budget through one
// generation's pool and checks that the next generation's pool of the same
// upstream finds it spent, that other upstreams have their own, and that an
// upstream a reload removed starts afresh when it comes back.
func TestRetryBudgetSurvivesReload(t *testing.T) {
	t.Parallel()
	st := NewState(StateOptions{})
	build := func(name string) *Pool {
		t.Helper()
		p, err := NewPool(name, &config.Upstream{Targets: []*config.Target{{URL: "http://127.0.0.1:9101", Weight: 1}}}, st)
		if err != nil {
			t.Fatalf("NewPool(%q) error: %v", name, err)
		}
		return p
	}
	spend := func(b *RetryBudget) int {
		n := 0
		for b.Withdraw() {
			n++
		}
		return n
	}
	gen1 := build("users")
	if got := spend(gen1.Budget()); got < BudgetMinPerSec {
		t.Fatalf("a new upstream allows %d retries, want at least %d", got, BudgetMinPerSec)
	}
	gen2, orders := build("users"), build("orders")
	if gen2.Budget() != gen1.Budget() {
		t.Fatal("a reload gave the upstream a new retry budget")
	}
	if gen2.Budget().Withdraw() {
		t.Error("the reloaded pool retries on a budget the previous generation spent")
	}
	if orders.Budget() == gen2.Budget() {
		t.Fatal("two upstreams share one retry budget")
	}
	if !orders.Budget().Withdraw() {
		t.Error("another upstream's budget was spent too")
	}

	// A reload that removes users drops its budget; orders keeps its own.
	st.Retain(orders.Keys())
	if again := build("orders"); again.Budget() != orders.Budget() {
		t.Error("Retain dropped the budget of an upstream it was told to keep")
	}
	back := build("users")
	if back.Budget() == gen1.Budget() {
		t.Fatal("an upstream removed and added again kept its old budget")
	}
	if !back.Budget().Withdraw() {
		t.Error("an upstream added again cannot retry")
	}
}

// fakeResolver answers from a map the test changes.
type fakeResolver struct {
	mu    sync.Mutex
	addrs map[string][]string
	err   error
	calls int
}

func (f *fakeResolver) set(host string, err error, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[host], f.err = addrs, err
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []netip.Addr
	for _, a := range f.addrs[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestDNS(t *testing.T) {
	t.Parallel()
	res := &fakeResolver{addrs: map[string][]string{}}
	res.set("users.internal", nil, "10.0.0.2", "10.0.0.1", "10.0.0.1")
	st := NewState(StateOptions{Resolver: res, ResolveEvery: 5 * time.Millisecond})
	cfg := &config.Upstream{Targets: []*config.Target{
		{URL: "http://users.internal:8080/api", Weight: 2},
		{URL: "http://127.0.0.1:9101", Weight: 1},
		{URL: "https://billing.internal", Weight: 1},
		{URL: "http://localhost:9102", Weight: 1},
	}}
	p, err := NewPool("users", cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Targets()); got != 4 {
		t.Fatalf("before Start: %d targets, want the 4 configured", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	names := func() []string {
		var out []string
		for _, tg := range p.Targets() {
			out = append(out, tg.Name)
		}
		return out
	}
	waitFor := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for fmt.Sprint(names()) != fmt.Sprint(want) {
			if time.Now().After(deadline) {
				t.Fatalf("targets = %v, want %v", names(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor([]string{"http://10.0.0.1:8080/api", "http://10.0.0.2:8080/api", "http://127.0.0.1:9101", "https://billing.internal", "http://localhost:9102"})
	tg := p.Targets()[1]
	if tg.Host != "users.internal:8080" || tg.Addr != "10.0.0.2:8080" || tg.Weight != 2 || tg.BasePath != "/api" {
		t.Errorf("resolved target = host %q addr %q weight %d base %q, want users.internal:8080, 10.0.0.2:8080, 2, /api", tg.Host, tg.Addr, tg.Weight, tg.BasePath)
	}
	// A failing lookup keeps the last good set.
	res.set("users.internal", errors.New("server misbehaving"))
	time.Sleep(30 * time.Millisecond)
	waitFor([]string{"http://10.0.0.1:8080/api", "http://10.0.0.2:8080/api", "http://127.0.0.1:9101", "https://billing.internal", "http://localhost:9102"})
	res.set("users.internal", nil, "10.0.0.3")
	waitFor([]string{"http://10.0.0.3:8080/api", "http://127.0.0.1:9101", "https://billing.internal", "http://localhost:9102"})
	if got := st.Len(); got != 4 {
		t.Errorf("State.Len() = %d after an address went away, want 4", got)
	}
	// A reload starts from the resolved addresses and keeps their state.
	p.Targets()[0].SetHealthy(false)
	p2, err := NewPool("users", cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Targets()[0]; got.Name != "http://10.0.0.3:8080/api" || got.Healthy() {
		t.Errorf("after a reload the first target is %s (healthy %v), want the resolved, unhealthy 10.0.0.3", got.Name, got.Healthy())
	}
	st.Retain(p2.Keys())
	if got := st.Len(); got != 4 {
		t.Errorf("State.Len() = %d after a reload, want 4", got)
	}
	p.Targets()[0].SetHealthy(true)
	// Picks only ever see the current set.
	if got, err := p.Pick(nil, nil); err != nil || got.pool != p {
		t.Errorf("Pick() = %v, %v", got, err)
	}
	cancel()
	res.mu.Lock()
	calls := res.calls
	res.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.calls > calls+1 {
		t.Errorf("resolver called %d more times after the generation retired", res.calls-calls)
	}
}

func TestStartClearsStaleVerdict(t *testing.T) {
	t.Parallel()
	st := NewState(StateOptions{})
	withChecks := newPoolOn(t, st, &config.Upstream{HealthCheck: &config.HealthCheck{Path: "/healthz"}}, 1)
	withChecks.Targets()[0].SetHealthy(false)
	withChecks.Start(context.Background())
	if withChecks.Targets()[0].Healthy() {
		t.Fatal("Start() cleared the verdict of a checked upstream")
	}
	without := newPoolOn(t, st, &config.Upstream{}, 1)
	without.Start(context.Background())
	if !without.Targets()[0].Healthy() {
		t.Error("a target marked down by removed health checks stays down")
	}
}
