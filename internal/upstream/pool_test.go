package upstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/google/go-cmp/cmp"
)

func TestNewTarget(t *testing.T) {
	t.Parallel()
	type want struct {
		Scheme, Host, BasePath, RawBasePath, Name string
		H2C                                       bool
		Weight                                    int
	}
	tests := []struct {
		name   string
		url    string
		weight int
		want   want
	}{
		{"plain", "http://127.0.0.1:9101", 0, want{"http", "127.0.0.1:9101", "", "", "http://127.0.0.1:9101", false, 1}},
		{"base path", "http://127.0.0.1:9101/base", 3, want{"http", "127.0.0.1:9101", "/base", "/base", "http://127.0.0.1:9101/base", false, 3}},
		{"base path trailing slash", "https://users.internal/api/v2/", 1, want{"https", "users.internal", "/api/v2", "/api/v2", "https://users.internal/api/v2/", false, 1}},
		{"root path", "http://users.internal:8080/", 1, want{"http", "users.internal:8080", "", "", "http://users.internal:8080/", false, 1}},
		{"escaped base", "http://10.0.0.7:80/a%20b", 1, want{"http", "10.0.0.7:80", "/a b", "/a%20b", "http://10.0.0.7:80/a%20b", false, 1}},
		{"h2c", "h2c://127.0.0.1:9000", 1, want{"http", "127.0.0.1:9000", "", "", "h2c://127.0.0.1:9000", true, 1}},
		{"ipv6", "http://[::1]:9101", 1, want{"http", "[::1]:9101", "", "", "http://[::1]:9101", false, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, err := newTarget(tt.url, tt.weight)
			if err != nil {
				t.Fatalf("NewTarget(%q) error: %v", tt.url, err)
			}
			got := want{tg.Scheme, tg.Host, tg.BasePath, tg.RawBasePath, tg.Name, tg.H2C, tg.Weight}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewTarget(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
			if !tg.Healthy() {
				t.Errorf("new target is not healthy")
			}
		})
	}
}

func TestNewTargetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		weight  int
		wantErr string
	}{
		{"no scheme", "127.0.0.1:9101", 1, "invalid url"},
		{"relative", "users.internal/base", 1, "scheme"},
		{"ftp", "ftp://files.internal", 1, "scheme"},
		{"no host", "http:///path", 1, "missing host"},
		{"opaque", "http:users", 1, "missing host"},
		{"credentials", "http://admin:hunter2@users.internal", 1, "credentials"},
		{"query", "http://users.internal/?a=1", 1, "query"},
		{"fragment", "http://users.internal/#x", 1, "fragment"},
		{"empty port", "http://users.internal:", 1, "empty port"},
		{"negative weight", "http://users.internal", -1, "negative"},
		{"huge weight", "http://users.internal", maxWeight + 1, "at most"},
		{"garbage", "http://[::1", 1, "invalid url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newTarget(tt.url, tt.weight)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewTarget(%q) error = %v, want one containing %q", tt.url, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestNewPool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     *config.Upstream
		wantErr string
	}{
		{"ok", &config.Upstream{Targets: []*config.Target{{URL: "http://127.0.0.1:9101", Weight: 3}, {URL: "http://127.0.0.1:9102"}}}, ""},
		{"round_robin named", &config.Upstream{Balancer: "round_robin", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"nil", nil, "no configuration"},
		{"no targets", &config.Upstream{}, "no targets"},
		{"bad target", &config.Upstream{Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}, {URL: "gopher://x"}}}, "targets[1]"},
		{"nil target", &config.Upstream{Targets: []*config.Target{nil}}, "targets[0]"},
		{"least_conn", &config.Upstream{Balancer: "least_conn", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"p2c_ewma", &config.Upstream{Balancer: "p2c_ewma", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"hash", &config.Upstream{Balancer: "hash", HashOn: "cookie:session", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"hash without hash_on", &config.Upstream{Balancer: "hash", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, "hash_on"},
		{"unknown balancer", &config.Upstream{Balancer: "random", Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, "unknown balancer"},
		{"health check", &config.Upstream{HealthCheck: &config.HealthCheck{Path: "/healthz"}, Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"passive", &config.Upstream{Passive: &config.Passive{Failures: 5}, Targets: []*config.Target{{URL: "http://127.0.0.1:9101"}}}, ""},
		{"lambda", &config.Upstream{Lambda: &config.Lambda{Function: "thumbnailer"}}, "lambda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPool("users", tt.cfg, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewPool() error: %v", err)
				}
				if p.Name != "users" || len(p.Targets()) != len(tt.cfg.Targets) {
					t.Errorf("NewPool() = %q with %d targets, want users with %d", p.Name, len(p.Targets()), len(tt.cfg.Targets))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewPool() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPickSkipsUnhealthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
	}{
		{"equal weights", []int{1, 1, 1}},
		{"smooth weights", []int{5, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestPool(t, tt.weights...)
			p.Targets()[0].SetHealthy(false)
			for range 100 {
				got, err := p.Pick(nil, nil)
				if err != nil {
					t.Fatalf("Pick() error: %v", err)
				}
				if got == p.Targets()[0] {
					t.Fatalf("Pick() = %s, an unhealthy target", got)
				}
			}
			for _, tg := range p.Targets() {
				tg.SetHealthy(false)
			}
			if _, err := p.Pick(nil, nil); !errors.Is(err, ErrNoHealthyUpstream) {
				t.Fatalf("Pick() with every target down: error = %v, want ErrNoHealthyUpstream", err)
			}
			p.Targets()[2].SetHealthy(true)
			if got, err := p.Pick(nil, nil); err != nil || got != p.Targets()[2] {
				t.Fatalf("Pick() = %v, %v; want the one healthy target", got, err)
			}
		})
	}
}

func FuzzNewTarget(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9101/base", "h2c://[::1]:80", "https://a.example/%2F/", "http://u:p@h", "http://h:/", "://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := newTarget(raw, 1)
		if err != nil {
			return
		}
		if tg.Host == "" || (tg.Scheme != "http" && tg.Scheme != "https") {
			t.Fatalf("NewTarget(%q) accepted host %q scheme %q", raw, tg.Host, tg.Scheme)
		}
		if strings.HasSuffix(tg.BasePath, "/") || strings.HasSuffix(tg.RawBasePath, "/") {
			t.Fatalf("NewTarget(%q) base path %q / %q ends in a slash", raw, tg.BasePath, tg.RawBasePath)
		}
		if tg.URL.User != nil {
			t.Fatalf("NewTarget(%q) accepted credentials", raw)
		}
	})
}
