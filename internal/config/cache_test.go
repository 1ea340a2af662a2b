package config

import (
	"errors"
	"strings"
	"testing"
)

// cacheYAML is a valid file with a cached route; tests replace its
// placeholders (ROUTECACHE, TOPCACHE, AUTH).
const cacheYAML = `version: 1
counters: {driver: memory}
TOPCACHE
upstreams:
  catalog: {targets: [{url: "http://127.0.0.1:9101"}]}
routes:
  - name: catalog
    match: {path_prefix: /catalog}
    upstream: catalog
    AUTH
    cache: ROUTECACHE
`

func TestValidateCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		routeCache string
		top        string
		auth       string
		want       string // "" means valid; else "line: path: message part"
	}{
		{name: "empty section", routeCache: "{}"},
		{name: "everything", routeCache: "{ttl: 30s, vary_by: [consumer, Accept-Language], max_body: 2MiB, stale_while_revalidate: 10s}", auth: "auth: [api_key]"},
		{name: "negative ttl", routeCache: "{ttl: -1s}", want: "11: routes[0].cache.ttl: invalid duration \"-1s\": must not be negative"},
		{name: "zero max_body", routeCache: "{max_body: 0}", want: "11: routes[0].cache.max_body: must be greater than zero"},
		{name: "negative stale", routeCache: "{stale_while_revalidate: -5s}", want: "11: routes[0].cache.stale_while_revalidate: invalid duration \"-5s\""},
		{name: "consumer without auth", routeCache: "{vary_by: [consumer]}", want: "routes[0].cache.vary_by[0]: consumer needs authentication"},
		{name: "bad header name", routeCache: "{vary_by: [\"Accept Language\"]}", want: "routes[0].cache.vary_by[0]: want consumer or a header name"},
		{name: "header twice", routeCache: "{vary_by: [accept, Accept]}", want: "routes[0].cache.vary_by[1]: \"Accept\" is listed twice"},
		{name: "max_body over max_size", routeCache: "{max_body: 2MiB}", top: "cache: {max_size: 1MiB}", want: "routes[0].cache.max_body: 2097152 bytes is more than cache.max_size"},
		{name: "unknown store", routeCache: "{}", top: "cache: {store: disk}", want: "3: cache.store: unknown value \"disk\""},
		{name: "redis without url", routeCache: "{}", top: "cache: {store: redis}", want: "cache.redis_url: required with store redis"},
		{name: "redis with counters url", routeCache: "{}", top: "cache: {store: redis}\ncounters: {redis_url: \"redis://127.0.0.1:6379\"}"},
		{name: "bad redis url", routeCache: "{}", top: "cache: {store: redis, redis_url: \"http://x\"}", want: "3: cache.redis_url: want a redis://"},
		{name: "zero max_size", routeCache: "{}", top: "cache: {max_size: 0}", want: "3: cache.max_size: must be greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			y := strings.NewReplacer("ROUTECACHE", tt.routeCache, "TOPCACHE", tt.top, "AUTH", tt.auth).Replace(cacheYAML)
			if strings.Contains(tt.top, "counters:") {
				y = strings.Replace(y, "counters: {driver: memory}\n", "", 1)
			}
			_, err := Parse([]byte(y), "gantry.yaml")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse() = %v, want no error", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse() = %v, want Problems", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() = %v\nwant a problem containing %q", err, tt.want)
			}
		})
	}
}

func TestCacheDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(strings.NewReplacer("ROUTECACHE", "{}", "TOPCACHE", "", "AUTH", "").Replace(cacheYAML)), "gantry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache.Store != "memory" || c.Cache.MaxSize != 256<<20 || c.Routes[0].Cache.MaxBody != 1<<20 || c.Routes[0].Cache.TTL != 0 {
		t.Fatalf("defaults = %+v %+v, want memory, 256MiB, max_body 1MiB, ttl 0", c.Cache, *c.Routes[0].Cache)
	}
}
