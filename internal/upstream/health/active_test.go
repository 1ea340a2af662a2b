package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// target is an upstream whose /healthz answers what the test sets.
type target struct {
	*httptest.Server
	status atomic.Int32
	delay  atomic.Int64
	probes atomic.Int32
	host   atomic.Value
}

func newTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{}
	tg.status.Store(http.StatusOK)
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/base/healthz" {
			http.NotFound(w, r)
			return
		}
		tg.probes.Add(1)
		tg.host.Store(r.Host)
		if d := time.Duration(tg.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(int(tg.status.Load()))
	}))
	t.Cleanup(tg.Close)
	return tg
}

func pool(t *testing.T, name string, hc *config.HealthCheck, urls ...string) *upstream.Pool {
	t.Helper()
	cfg := &config.Upstream{HealthCheck: hc}
	for _, u := range urls {
		cfg.Targets = append(cfg.Targets, &config.Target{URL: u + "/base", Weight: 1})
	}
	p, err := upstream.NewPool(name, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func check(interval time.Duration) *config.HealthCheck {
	return &config.HealthCheck{Path: "/healthz", Interval: config.Duration(interval), Timeout: config.Duration(interval / 2), UnhealthyAfter: 2, HealthyAfter: 2}
}

func waitHealthy(t *testing.T, tg *upstream.Target, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for tg.Healthy() != want {
		if time.Since(start) > within {
			t.Fatalf("target %s Healthy() still %v after %v, want %v", tg.Name, !want, within, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func TestRound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		delay  time.Duration
		want   bool
	}{
		{"200", http.StatusOK, 0, true},
		{"204", http.StatusNoContent, 0, true},
		{"302 is not followed and passes", http.StatusFound, 0, true},
		{"404", http.StatusNotFound, 0, false},
		{"503", http.StatusServiceUnavailable, 0, false},
		{"timeout", http.StatusOK, 200 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			tg.status.Store(int32(tt.status))
			tg.delay.Store(int64(tt.delay))
			hc := check(time.Hour)
			hc.Timeout = config.Duration(50 * time.Millisecond)
			hc.UnhealthyAfter, hc.HealthyAfter = 1, 1
			p := pool(t, "users", hc, tg.URL)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := Start(ctx, p, nil, nil)
			start := time.Now()
			c.Round(ctx)
			if d := time.Since(start); d > 150*time.Millisecond {
				t.Errorf("Round() took %v with a 50ms timeout", d)
			}
			if got := p.Targets()[0].Healthy(); got != tt.want {
				t.Errorf("Healthy() after a probe answered %d = %v, want %v", tt.status, got, tt.want)
			}
			if h, _ := tg.host.Load().(string); h != p.Targets()[0].Host {
				t.Errorf("probe Host = %q, want %q", h, p.Targets()[0].Host)
			}
		})
	}
}

func TestDeadTargetOutAndBack(t *testing.T) {
	t.Parallel()
	const interval = 40 * time.Millisecond
	a, b := newTarget(t), newTarget(t)
	p := pool(t, "users", check(interval), a.URL, b.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Start(ctx, p, nil, nil)
	ta, tb := p.Targets()[0], p.Targets()[1]
	time.Sleep(2 * interval)
	a.status.Store(http.StatusInternalServerError)
	// unhealthy_after 2 probes: out within about 2 intervals.
	if d := waitHealthy(t, ta, false, 2*interval+interval); d > 3*interval {
		t.Errorf("taken out after %v, want within %v", d, 3*interval)
	}
	if !tb.Healthy() {
		t.Error("the healthy target was taken out too")
	}
	a.status.Store(http.StatusOK)
	waitHealthy(t, ta, true, 4*interval)
	// A closed target fails its probes too.
	b.Close()
	waitHealthy(t, tb, false, 4*interval)
}

func TestSlowUpstreamDoesNotBlockAnother(t *testing.T) {
	t.Parallel()
	const interval = 40 * time.Millisecond
	slow, fast := newTarget(t), newTarget(t)
	slow.delay.Store(int64(time.Hour))
	ps := pool(t, "slow", check(time.Second), slow.URL)
	pf := pool(t, "fast", check(interval), fast.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Start(ctx, ps, nil, nil)
	Start(ctx, pf, nil, nil)
	time.Sleep(10 * interval)
	if n := fast.probes.Load(); n < 6 {
		t.Errorf("fast upstream probed %d times in 10 intervals while another hangs, want about 10", n)
	}
}

func TestStopsWithContext(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	tg := newTarget(t)
	p := pool(t, "users", check(interval), tg.URL)
	ctx, cancel := context.WithCancel(context.Background())
	Start(ctx, p, nil, nil)
	time.Sleep(5 * interval)
	cancel()
	time.Sleep(interval)
	n := tg.probes.Load()
	if n == 0 {
		t.Fatal("no probe before cancel")
	}
	time.Sleep(5 * interval)
	if got := tg.probes.Load(); got != n {
		t.Errorf("%d probes after the generation retired, want none", got-n)
	}
}

func TestStartWithoutHealthCheck(t *testing.T) {
	t.Parallel()
	p := pool(t, "users", nil, "http://127.0.0.1:9")
	if c := Start(context.Background(), p, nil, nil); c != nil {
		t.Error("Start() returned a checker for an upstream without health_check")
	}
}
