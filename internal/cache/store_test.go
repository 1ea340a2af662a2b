package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables of the Redis tests, as in package counter.
const (
	envRedisURL        = "GANTRY_TEST_REDIS_URL"
	envRequireServices = "GANTRY_TEST_REQUIRE_SERVICES"
)

// unavailable skips, or fails when the services are required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(envRequireServices) == "1" {
		t.Fatalf("%s (and %s=1)", why, envRequireServices)
	}
	t.Skip(why)
}

// testRedis returns a Redis store under a key prefix of the test's own,
// whose keys are deleted when the test ends.
func testRedis(t *testing.T) *Redis {
	t.Helper()
	u := os.Getenv(envRedisURL)
	if u == "" {
		unavailable(t, envRedisURL+" not set: skipping the Redis tests")
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "gantry-test-" + hex.EncodeToString(b)
	s, err := NewRedis(RedisOptions{URL: u, KeyPrefix: prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		s.Close()
		unavailable(t, "Redis at "+envRedisURL+" is unreachable: "+err.Error())
	}
	t.Cleanup(func() {
		ctx := context.Background()
		it := s.rdb.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if len(keys) > 0 {
			s.rdb.Del(ctx, keys...)
		}
		s.Close()
	})
	return s
}

func TestStores(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemory(1 << 20) },
		"redis":  func(t *testing.T) Store { return testRedis(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := context.Background()
			entry := func(path, body string) *Entry {
				return &Entry{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(body),
					Stored: time.Unix(1700000000, 0), Lifetime: time.Minute, Route: "catalog", Path: path}
			}
			set := func(route, key string, e *Entry) {
				t.Helper()
				if err := s.Set(ctx, route, key, e, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			get := func(route, key string) string {
				t.Helper()
				e, err := s.Get(ctx, route, key)
				if err != nil {
					t.Fatal(err)
				}
				if e == nil {
					return ""
				}
				return string(e.Body)
			}
			set("catalog", "k1", entry("/a", "a"))
			set("catalog", "k2", entry("/a", "a?q"))
			set("catalog", "k3", entry("/b", "b"))
			set("orders", "k1", entry("/a", "orders a"))
			if got := get("catalog", "k1"); got != "a" {
				t.Fatalf("Get(catalog, k1) = %q, want a", got)
			}
			if got := get("orders", "k1"); got != "orders a" {
				t.Fatalf("Get(orders, k1) = %q, want the other route's entry", got)
			}
			if err := s.Purge(ctx, "catalog", "/a"); err != nil {
				t.Fatal(err)
			}
			if a, aq, b := get("catalog", "k1"), get("catalog", "k2"), get("catalog", "k3"); a != "" || aq != "" || b != "b" {
				t.Fatalf("after purging /a: %q %q %q, want /a's entries gone and /b's kept", a, aq, b)
			}
			if err := s.Purge(ctx, "catalog", ""); err != nil {
				t.Fatal(err)
			}
			if b, o := get("catalog", "k3"), get("orders", "k1"); b != "" || o != "orders a" {
				t.Fatalf("after purging the route: %q %q, want its entries gone and the other route's kept", b, o)
			}
			set("catalog", "k3", entry("/b", "b again"))
			if got := get("catalog", "k3"); got != "b again" {
				t.Fatalf("Get after a route purge and a new Set = %q, want the new entry", got)
			}
		})
	}
}

func TestRedisKeyTTL(t *testing.T) {
	t.Parallel()
	s := testRedis(t)
	ctx := context.Background()
	e := &Entry{Status: 200, Header: http.Header{}, Body: []byte("x"), Stored: time.Unix(1, 0), Route: "catalog", Path: "/a"}
	if err := s.Set(ctx, "catalog", "k", e, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.rdb.PTTL(ctx, s.tag("catalog")+"e0:k").Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 1500*time.Millisecond {
		t.Fatalf("entry key TTL = %v, want the entry's keep (1.5s)", ttl)
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	m := NewMemory(64 << 10)
	ctx := context.Background()
	body := make([]byte, 1<<10)
	for i := range 500 {
		e := &Entry{Status: 200, Header: http.Header{}, Body: body, Route: "catalog", Path: "/p"}
		if err := m.Set(ctx, "catalog", hex.EncodeToString([]byte{byte(i), byte(i >> 8)}), e, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	m.c.CleanUp()
	if b := m.Bytes(); b > 64<<10 {
		t.Fatalf("Bytes() = %d after 500 KiB of entries, want at most max_size 64 KiB", b)
	}
	if n := m.Entries(); n == 0 || n > 64 {
		t.Fatalf("Entries() = %d, want some, at most 64", n)
	}
}
