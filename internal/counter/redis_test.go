package counter

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRedisServerClock: on the server's clock (the default), 64
// goroutines admit exactly the burst of a fresh bucket; and over a second
// of real time never more than burst plus the refill, nor much less.
func TestRedisServerClock(t *testing.T) {
	f := newRedisFixture(t)
	c := f.counter(t, RedisOptions{})
	// One token per 36 s: no refill can land inside the test.
	if got := concurrently(t, limit("198.51.100.1", 100, time.Hour, 100), 64, 5, c); got != 100 {
		t.Fatalf("fresh bucket: 64 goroutines admitted %d, want 100", got)
	}

	// 20 per second, burst 5: an interval of 50 ms.
	req := limit("198.51.100.2", 20, time.Second, 5)
	start := time.Now()
	got := 0
	for time.Since(start) < time.Second {
		got += concurrently(t, req, 64, 2, c)
	}
	elapsed := time.Since(start)
	upper := 5 + int(elapsed/(50*time.Millisecond)) + 1
	// Refill continues while no goroutine asks; allow for pauses of a
	// loaded machine.
	lower := 5 + int(elapsed*8/10/(50*time.Millisecond)) - 2
	if got > upper || got < lower {
		t.Fatalf("admitted %d in %v, want between %d and %d", got, elapsed, lower, upper)
	}
}

// TestRedisThreeNodes: three counters sharing one Redis, as three
// gateways would, admit the limit together, exactly.
func TestRedisThreeNodes(t *testing.T) {
	f := newRedisFixture(t)
	nodes := []Counter{f.counter(t, RedisOptions{}), f.counter(t, RedisOptions{}), f.counter(t, RedisOptions{})}
	req := limit("initech", 300, time.Hour, 300)
	a := concurrently(t, req, 16, 20, nodes...)
	// 960 requests against 300 tokens refilled one per 12 s.
	if a < 300 || a > 301 {
		t.Fatalf("three nodes admitted %d of 960, want 300 (301 if the test straddles a refill)", a)
	}
}

// TestRedisOneRoundTrip: an exact decision is one command, one round
// trip, whatever the buckets and quota.
func TestRedisOneRoundTrip(t *testing.T) {
	f := newRedisFixture(t)
	client, hook := f.client(t, RedisOptions{})
	c := f.counter(t, RedisOptions{Client: client})
	var req Request
	req.Add(Bucket{Tag: "acme", Name: "p:gold", Rate: Rate{Requests: 1000, Per: time.Second, Burst: 1000}})
	req.Add(Bucket{Tag: "acme", Name: "r:orders:c", Rate: Rate{Requests: 100, Per: time.Second, Burst: 100}})
	req.Quota = Quota{Tag: "acme", Name: "q:month", Limit: 1 << 40, Per: periodMonth}
	c.Take(context.Background(), req) // loads the script
	cmds, trips := hook.cmds.Load(), hook.trips.Load()
	const n = 50
	if got := admitCount(t, c, req, n); got != n {
		t.Fatalf("admitted %d, want %d", got, n)
	}
	if c, r := hook.cmds.Load()-cmds, hook.trips.Load()-trips; c != n || r != n {
		t.Fatalf("%d decisions sent %d commands in %d round trips, want %d and %d", n, c, r, n, n)
	}
}

// TestRedisKeys: keys carry the prefix and the identity as a Cluster hash
// tag, and expire: a bucket when it is full again, a quota at its
// period's end.
func TestRedisKeys(t *testing.T) {
	f := newRedisFixture(t)
	c := f.counter(t, RedisOptions{})
	var req Request
	req.Add(Bucket{Tag: "acme", Name: "p:gold", Rate: Rate{Requests: 10, Per: time.Minute, Burst: 10}})
	req.Quota = Quota{Tag: "acme", Name: "q:day", Limit: 100, Per: periodDay}
	if !c.Take(context.Background(), req).Allowed {
		t.Fatal("refused")
	}
	ctx := context.Background()
	keys := f.keys(ctx)
	want := map[string]time.Duration{
		"{" + f.prefix + ":acme}:p:gold": 6 * time.Second,
		"{" + f.prefix + ":acme}:q:day":  24 * time.Hour,
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %d", keys, len(want))
	}
	for _, k := range keys {
		most, ok := want[k]
		if !ok {
			t.Fatalf("unexpected key %q", k)
		}
		ttl := f.admin.PTTL(ctx, k).Val()
		if ttl <= 0 || ttl > most {
			t.Errorf("%s: TTL %v, want in (0, %v]", k, ttl, most)
		}
	}
	if !strings.HasPrefix(keys[0], "{"+f.prefix+":") {
		t.Errorf("key %q lacks the prefix", keys[0])
	}
}

// TestRedisCancelledRequest: a request that went away gets the fallback
// without opening the breaker.
func TestRedisCancelledRequest(t *testing.T) {
	f := newRedisFixture(t)
	c := f.counter(t, RedisOptions{OnFailure: FailDeny})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := c.Take(ctx, limit("192.0.2.7", 5, time.Second, 5))
	if !d.Degraded || d.Allowed {
		t.Fatalf("decision %+v, want the deny fallback", d)
	}
	if !c.Up() {
		t.Fatal("a cancelled request opened the breaker")
	}
	if got := admitCount(t, c, limit("192.0.2.7", 5, time.Second, 5), 1); got != 1 {
		t.Fatalf("next request: admitted %d, want 1", got)
	}
}

func TestParseFailureMode(t *testing.T) {
	tests := []struct {
		in   string
		want FailureMode
		ok   bool
	}{
		{"", FailAllow, true},
		{"allow", FailAllow, true},
		{"deny", FailDeny, true},
		{"Deny", 0, false},
		{"block", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseFailureMode(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseFailureMode(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSync(t *testing.T) {
	tests := []struct {
		in   string
		want Sync
		ok   bool
	}{
		{"", syncExact, true},
		{"exact", syncExact, true},
		{"batched", syncBatched, true},
		{"lazy", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseSync(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParseSync(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBadRedisURL: a bad URL is an error that does not quote the password.
func TestBadRedisURL(t *testing.T) {
	for _, u := range []string{"redis://user:secret@[::1", "http://user:secret@127.0.0.1:6379", "redis://user:secret@127.0.0.1:6379/x"} {
		if _, err := NewRedis(RedisOptions{URL: u}); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("NewRedis(%q): err %v, want an error without the password", u, err)
		}
	}
}
