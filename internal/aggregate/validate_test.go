package aggregate

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// TestProblemsCarryFileLines: New's problems, placed by the config, point
// at the line of the offending key, as `gantry validate` prints them.
func TestProblemsCarryFileLines(t *testing.T) {
	t.Parallel()
	const file = `version: 1
upstreams:
  users:
    targets: [{url: "http://127.0.0.1:9101"}]
routes:
  - name: dashboard
    match: {path: "/dashboard/{user_id}"}
    aggregate:
      calls:
        - name: user
          upstream: users
          path: "/users/{orders.user_id}"
        - name: orders
          upstream: users
          path: "/orders?user={user.id}&tz={tz}"
`
	cfg, err := config.Parse([]byte(file), "gantry.yaml")
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	pools := map[string]*upstream.Pool{}
	for name, u := range cfg.Upstreams {
		if pools[name], err = upstream.NewPool(name, u, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = New(cfg.Routes[0], Deps{Pools: pools, Upstreams: cfg.Upstreams, At: "routes[0]"})
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("New() error = %v, want config.Problems", err)
	}
	got := cfg.Locate(ps).Error()
	want := []string{
		`gantry.yaml:12: routes[0].aggregate.calls[0].path: calls "user" -> "orders" -> "user" use each other's answers in a cycle`,
		`gantry.yaml:15: routes[0].aggregate.calls[1].path: {tz} is not a path parameter of the route (parameters: user_id)`,
	}
	lines := strings.Split(got, "\n")
	if len(lines) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], want[i])
		}
	}
}
