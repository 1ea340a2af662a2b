package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedacted(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.Admin.Token = "admin-token-value"
	c.Auth.JWT = append(c.Auth.JWT, &JWT{Name: "hmac", Secret: "jwt-secret-value-0123456789abcdef", Algorithms: []string{"HS256"}})
	c.Consumers[0].APIKeys = append(c.Consumers[0].APIKeys, APIKey{Hash: "sha256:" + strings.Repeat("0", 64)})
	c.Storage = Storage{Driver: "postgres", DSN: "postgres://gantry:db-password@127.0.0.1:5432/gantry?sslmode=disable"}
	c.Counters.RedisURL = "redis://:redis-password@127.0.0.1:6379/0"
	c.Usage.Export = &UsageExport{URL: "https://meter:export-password@meter.example.com/events"}
	c.Lines = map[string]int{"version": 1}
	c.SetDefaults()
	before, _ := json.Marshal(c)

	r := c.Redacted()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("json.Marshal(Redacted()): %v", err)
	}
	out := string(b)
	for _, secret := range []string{"admin-token-value", "jwt-secret-value", "acme-key-0123456789", "db-password", "redis-password", "export-password"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() still shows %q: %s", secret, out)
		}
	}
	checks := []struct{ got, want string }{
		{r.Admin.Token, "[redacted]"},
		{r.Auth.JWT[1].Secret, "[redacted]"},
		{r.Auth.JWT[0].Secret, ""},
		{r.Consumers[0].APIKeys[0].Key, "[redacted]"},
		{r.Consumers[0].APIKeys[1].Hash, c.Consumers[0].APIKeys[1].Hash},
		{r.Storage.DSN, "postgres://gantry:[redacted]@127.0.0.1:5432/gantry?sslmode=disable"},
		{r.Counters.RedisURL, "redis://:[redacted]@127.0.0.1:6379/0"},
		{r.Usage.Export.URL, "https://meter:[redacted]@meter.example.com/events"},
	}
	for i, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("check %d: got %q, want %q", i, ch.got, ch.want)
		}
	}
	after, _ := json.Marshal(c)
	if diff := cmp.Diff(string(before), string(after)); diff != "" {
		t.Errorf("Redacted changed the original (-before +after):\n%s", diff)
	}
	// The copy is deep: changing it leaves the original alone.
	r.Routes[0].Match.Path = "/changed"
	r.Upstreams["users"].Targets[0].URL = "http://changed"
	r.Lines["version"] = 99
	if c.Routes[0].Match.Path == "/changed" || c.Upstreams["users"].Targets[0].URL == "http://changed" || c.Lines["version"] == 99 {
		t.Error("Redacted() shares memory with the original")
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"./data/gantry.db", "./data/gantry.db"},
		{"postgres://gantry@db/gantry", "postgres://gantry@db/gantry"},
		{"postgres://u:p@ss@db/x", "postgres://u:[redacted]@db/x"},
		{"host=db user=gantry password=hunter2 dbname=x", "host=db user=gantry password=[redacted] dbname=x"},
		{"host=db password='two words'", "host=db password=[redacted]"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
