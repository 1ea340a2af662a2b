package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestRedisRecoverySoon: with on_failure: deny, Redis is stopped long
// enough for the breaker's probe pauses to reach their cap, then started
// again; the gateway must use Redis again within the cap (2s) plus a ping,
// not wait out a long pause (it took 2.7-3.6s before, refusing every
// request meanwhile).
func TestRedisRecoverySoon(t *testing.T) {
	rs, ok := newRedisServer(t)
	if !ok {
		t.Skip("redis-server is not installed")
	}
	rs.start()
	up := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`counters: {driver: redis, redis_url: %q, on_failure: deny}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
    rate_limit: {requests: 100000, per: 1s, key: ip}
`, rs.url(), up.URL)))
	if r := get(t, g.URL+"/orders"); r.Status != 200 {
		t.Fatalf("GET with Redis up = %d %s, want 200", r.Status, r.Body)
	}
	rs.stop()
	opened := time.Now()
	if r := get(t, g.URL+"/orders"); r.Status != 429 {
		t.Fatalf("GET with Redis down = %d %s, want 429 (on_failure: deny)", r.Status, r.Body)
	}
	// Keep Redis down past several doublings of the probe's pause: with
	// pauses of 250ms doubling to 5s the probes came at 0.25, 0.75, 1.75,
	// 3.75 and 7.75s, so Redis back at 4s waited until 7.75s.
	time.Sleep(4*time.Second - time.Since(opened))
	rs.start()
	back := time.Now()
	const within = 2*time.Second + 500*time.Millisecond
	refused := 0
	for {
		r := get(t, g.URL+"/orders")
		if r.Status == 200 {
			break
		}
		if r.Status != 429 {
			t.Fatalf("GET while the breaker is open = %d %s, want 429", r.Status, r.Body)
		}
		refused++
		if time.Since(back) > 10*time.Second {
			t.Fatal("the gateway did not use Redis again within 10s of its return")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(back)
	t.Logf("Redis back after an outage of %v: used again after %v (%d requests refused meanwhile)", back.Sub(opened).Round(time.Millisecond), took.Round(time.Millisecond), refused)
	if took > within {
		t.Errorf("the gateway used Redis again %v after it came back, want within %v", took, within)
	}
}
