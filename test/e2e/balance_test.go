package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestBalanceSurvivorsShareEvenly takes one of three targets out and checks
// that the two left share its traffic evenly, weights kept: the target after
// the dead one in the list must not take the dead one's whole share (it took
// 67% before).
func TestBalanceSurvivorsShareEvenly(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		health  string
		// want is each survivor's share of the 300 requests.
		want map[string]int
	}{
		{"active health, equal weights", []int{1, 1, 1},
			"    health_check: {path: /, interval: 100ms, timeout: 50ms, unhealthy_after: 1, healthy_after: 1}\n",
			map[string]int{"b": 150, "c": 150}},
		{"passive health, equal weights", []int{1, 1, 1},
			"    passive: {failures: 1, eject_for: 60s}\n    retries: 1\n",
			map[string]int{"b": 150, "c": 150}},
		{"active health, weights 3:1:1, the 3 out", []int{3, 1, 1},
			"    health_check: {path: /, interval: 100ms, timeout: 50ms, unhealthy_after: 1, healthy_after: 1}\n",
			map[string]int{"b": 150, "c": 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echos := []*testkit.Echo{testkit.NewEcho(t, "a"), testkit.NewEcho(t, "b"), testkit.NewEcho(t, "c")}
			var targetsYAML strings.Builder
			for i, e := range echos {
				fmt.Fprintf(&targetsYAML, "      - {url: %q, weight: %d}\n", e.URL, tt.weights[i])
			}
			g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  svc:
    targets:
%s%sroutes:
  - name: svc
    match: {path_prefix: /}
    upstream: svc
`, targetsYAML.String(), tt.health)))
			dead := echos[0]
			dead.Close()
			if strings.Contains(tt.health, "health_check") {
				waitState(t, g, dead.URL, "unhealthy", 5*time.Second)
			}
			const n = 300
			got := map[string]int{}
			for range n {
				r := get(t, g.URL+"/orders")
				if r.Status != 200 {
					t.Fatalf("GET /orders with a out = %d %s, want 200", r.Status, r.Body)
				}
				got[r.Header.Get("X-Upstream")]++
			}
			// Passive health learns of the dead target from one failed
			// attempt, which is retried on a survivor: one pick of slack.
			const slack = 3
			for name, want := range tt.want {
				if d := got[name] - want; d < -slack || d > slack {
					t.Errorf("%s served %d of %d requests, want %d ± %d (all: %v)", name, got[name], n, want, slack, got)
				}
			}
			if got["a"] != 0 {
				t.Errorf("the dead target a served %d requests", got["a"])
			}
		})
	}
}
