package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	src := `version: 1
upstreams:
  users:
    targets: [{url: "http://127.0.0.1:9101"}]
  orders:
    targets: [{url: "http://127.0.0.1:9201"}]
    health_check: {}
    passive: {}
  thumbs:
    lambda: {function: f, region: us-east-1}
routes:
  - name: users
    match: {path_prefix: /users}
    upstream: users
    rate_limit: {requests: 5, per: 1s}
  - name: chat
    match: {path: /chat}
    upstream: users
    websocket: {max_lifetime: 1h}
  - name: feed
    match: {path: /feed}
    upstream: users
    websocket: {idle_timeout: 0}
  - name: dashboard
    match: {path: /dashboard, methods: [get]}
    auth: [api_key]
    rate_limit: {requests: 5, per: 1s}
    aggregate:
      calls: [{name: user, upstream: users, path: /u}]
plans:
  free: {rate_limit: {requests: 10, per: 1s}}
auth:
  jwt: [{name: corp, jwks_url: "https://id.example.com/jwks", algorithms: [RS256]}]
usage:
  export: {url: "http://127.0.0.1:8888/"}
`
	cfg, ps := parseProblems(t, src, nil)
	if ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	s := time.Second
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"version", cfg.Version, 1},
		{"server.listen", cfg.Server.Listen, ":8080"},
		{"max_header_bytes", cfg.Server.Limits.MaxHeaderBytes, Size(64 << 10)},
		{"max_body_bytes", cfg.Server.Limits.MaxBodyBytes, Size(10 << 20)},
		{"read_header_timeout", cfg.Server.Limits.ReadHeaderTimeout.D(), 5 * s},
		{"read_timeout", cfg.Server.Limits.ReadTimeout.D(), 60 * s},
		{"write_timeout", cfg.Server.Limits.WriteTimeout.D(), time.Duration(0)},
		{"idle_timeout", cfg.Server.Limits.IdleTimeout.D(), 120 * s},
		{"max_connections", cfg.Server.Limits.MaxConnections, 10000},
		{"max_concurrent_requests", cfg.Server.Limits.MaxConcurrentRequests, 0},
		{"shutdown_grace", cfg.Server.ShutdownGrace.D(), 15 * s},
		{"drain_delay", cfg.Server.DrainDelay.D(), time.Duration(0)},
		{"admin.listen", cfg.Admin.Listen, "127.0.0.1:9080"},
		{"storage", cfg.Storage, Storage{Driver: "sqlite", DSN: "./data/gantry.db"}},
		{"counters", cfg.Counters, Counters{Driver: "memory", OnFailure: "allow", Sync: "exact", BatchWindow: Duration(50 * time.Millisecond), KeyPrefix: "gantry"}},
		{"flush_interval", cfg.Usage.FlushInterval.D(), s},
		{"export batch_size", cfg.Usage.Export.BatchSize, 500},
		{"api_key section from routes", *cfg.Auth.APIKey, APIKeyAuth{Header: "X-API-Key"}},
		{"jwt leeway", cfg.Auth.JWT[0].Leeway, Duration(0)},
		{"jwt consumer_claim", cfg.Auth.JWT[0].ConsumerClaim, "sub"},
		{"plan burst", cfg.Plans["free"].RateLimit.Burst, 10},
		{"plan key stays empty", cfg.Plans["free"].RateLimit.Key, ""},
		{"public route rate limit key", cfg.Routes[0].RateLimit.Key, "ip"},
		{"authenticated route rate limit key", cfg.Routes[3].RateLimit.Key, "consumer"},
		{"route burst", cfg.Routes[3].RateLimit.Burst, 5},
		{"methods upper-cased", cfg.Routes[3].Match.Methods, []string{"GET"}},
		{"no websocket section unless asked", cfg.Routes[0].WebSocket, (*WebSocket)(nil)},
		{"websocket section gets the idle default", *cfg.Routes[1].WebSocket, WebSocket{IdleTimeout: Duration(60 * s), MaxLifetime: Duration(time.Hour)}},
		{"websocket explicit idle_timeout 0 kept", *cfg.Routes[2].WebSocket, WebSocket{}},
		{"aggregate timeout", cfg.Routes[3].Aggregate.Timeout.D(), 5 * s},
		{"aggregate call method", cfg.Routes[3].Aggregate.Calls[0].Method, "GET"},
		{"target weight", cfg.Upstreams["users"].Targets[0].Weight, 1},
		{"balancer", cfg.Upstreams["users"].Balancer, "round_robin"},
		{"timeouts", cfg.Upstreams["users"].Timeouts, Timeouts{Connect: Duration(2 * s), Response: Duration(30 * s)}},
		{"no health check unless asked", cfg.Upstreams["users"].HealthCheck, (*HealthCheck)(nil)},
		{"health check", *cfg.Upstreams["orders"].HealthCheck, HealthCheck{Path: "/healthz", Interval: Duration(10 * s), Timeout: Duration(2 * s), UnhealthyAfter: 3, HealthyAfter: 2}},
		{"passive", *cfg.Upstreams["orders"].Passive, Passive{Failures: 5, EjectFor: Duration(30 * s)}},
		{"lambda has no balancer", cfg.Upstreams["thumbs"].Balancer, ""},
		{"lambda timeouts", cfg.Upstreams["thumbs"].Timeouts.Response, Duration(30 * s)},
		{"versioning stays off", cfg.Versioning, (*Versioning)(nil)},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestDefaultsKeepExplicitZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, wantPath string
	}{
		{"body limit", minimal + "server:\n  limits:\n    max_body_bytes: 0\n", "server.limits.max_body_bytes"},
		{"burst", minimal + "plans:\n  free: {rate_limit: {requests: 5, per: 1s, burst: 0}}\n", "plans.free.rate_limit.burst"},
		{"version", strings.Replace(minimal, "version: 1", "version: 0", 1), "version"},
		{"target weight", strings.Replace(minimal, "9101\"}", "9101\", weight: 0}", 1), "upstreams.users.targets[0].weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ps := parseProblems(t, tt.src, nil)
			if len(ps) != 1 || ps[0].Path != tt.wantPath {
				t.Errorf("problems = %v, want one at %s", ps, tt.wantPath)
			}
		})
	}
}

func TestDefaultsWithoutVersion(t *testing.T) {
	t.Parallel()
	cfg, ps := parseProblems(t, minimal[len("version: 1\n"):], nil)
	if ps != nil || cfg.Version != 1 {
		t.Fatalf("without version: cfg.Version = %v, problems %v; want 1, none", cfg, ps)
	}
}
