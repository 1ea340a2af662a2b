package config

import (
	"os"
	"strings"
	"testing"
)

// TestContractExample parses the user-facing example config. The copy in
// testdata quotes the dashboard route's path in its flow mapping
// ({path: "/dashboard/{user_id}"}): unquoted, "{" and "}" end a plain
// scalar inside {...} in YAML, so no parser accepts the original line.
func TestContractExample(t *testing.T) {
	t.Setenv("GANTRY_ADMIN_TOKEN", "admin-token-for-tests")
	t.Setenv("ACME_SECOND_KEY", "acme-second-key-0123456789")
	cfg, err := Load("testdata/contract.yaml")
	if err != nil {
		t.Fatalf("Load(contract example) = %v", err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"admin token from env", cfg.Admin.Token, "admin-token-for-tests"},
		{"api key from env", cfg.Consumers[0].APIKeys[1].Key, "acme-second-key-0123456789"},
		{"routes", len(cfg.Routes), 7},
		{"upstreams", len(cfg.Upstreams), 5},
		{"max body", cfg.Server.Limits.MaxBodyBytes, Size(10 << 20)},
		{"monthly fee", cfg.Plans["pro"].Pricing.MonthlyFee, Decimal("49.00")},
		{"per 1000 over", cfg.Plans["pro"].Pricing.Per1000Over, Decimal("0.50")},
		{"pro burst", cfg.Plans["pro"].RateLimit.Burst, 200},
		{"free burst", cfg.Plans["free"].RateLimit.Burst, 10},
		{"weighted target", cfg.Upstreams["users"].Targets[0].Weight, 3},
		{"default weight", cfg.Upstreams["users"].Targets[1].Weight, 1},
		{"dashboard path", cfg.Routes[3].Match.Path, "/dashboard/{user_id}"},
		{"optional call", cfg.Routes[3].Aggregate.Calls[1].Optional, true},
		{"lambda", cfg.Upstreams["thumbnails"].Lambda.Function, "thumbnailer"},
		{"path line", cfg.Lines["routes[0].match.path"], 120},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestContractExampleNeedsEnv(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(data, "gantry.yaml", func(name string) (string, bool) {
		if name == "ACME_SECOND_KEY" {
			return "acme-second-key-0123456789", true
		}
		return "", false
	})
	if err == nil {
		t.Fatalf("parse without GANTRY_ADMIN_TOKEN = %v, want an error", cfg)
	}
	if want := "gantry.yaml:27: admin.token: environment variable GANTRY_ADMIN_TOKEN is not set"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}
