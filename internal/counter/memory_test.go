package counter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/google/go-cmp/cmp"
)

// TestMemoryBounded: however many identities clients invent, the buckets
// kept stay under MaxKeys, and a busy bucket survives the churn.
func TestMemoryBounded(t *testing.T) {
	clock := newFakeClock(t0)
	m := NewMemory(MemoryOptions{Now: clock.Now, MaxKeys: 64 * 16})
	defer m.Close()
	busy := limit("tenant-busy", 10, time.Hour, 10)
	if got := admitCount(t, m, busy, 10); got != 10 {
		t.Fatalf("admitted %d, want 10", got)
	}
	for i := range 20000 {
		m.Take(context.Background(), limit(fmt.Sprintf("spoofed-%d", i), 1, time.Millisecond, 1))
		if i%1000 == 0 {
			clock.Add(time.Millisecond)
		}
	}
	if b, _ := m.Len(); b > 64*16 {
		t.Fatalf("%d buckets kept, want at most %d", b, 64*16)
	}
	// Churned buckets were full again within a millisecond; the busy one
	// was far from full, so eviction took the others.
	if got := admitCount(t, m, busy, 10); got != 0 {
		t.Fatalf("busy bucket after churn: admitted %d, want 0 (it must not start over)", got)
	}
}

// TestMemorySweep: full buckets and counters of past periods are dropped.
func TestMemorySweep(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 11, 3, 23, 0, 0, 0, time.UTC))
	m := NewMemory(MemoryOptions{Now: clock.Now})
	defer m.Close()
	var req Request
	req.Add(Bucket{Tag: "acme", Name: "p:gold", Rate: Rate{Requests: 10, Per: time.Second, Burst: 10}})
	req.Quota = Quota{Tag: "acme", Name: "q:day", Limit: 100, Per: periodDay}
	admitCount(t, m, req, 3)
	m.Sweep()
	if b, q := m.Len(); b != 1 || q != 1 {
		t.Fatalf("after use: %d buckets, %d quotas; want 1, 1", b, q)
	}
	clock.Add(300 * time.Millisecond) // the bucket is full again
	m.Sweep()
	if b, q := m.Len(); b != 0 || q != 1 {
		t.Fatalf("bucket full: %d buckets, %d quotas; want 0, 1", b, q)
	}
	clock.Add(time.Hour) // the day is over
	m.Sweep()
	if b, q := m.Len(); b != 0 || q != 0 {
		t.Fatalf("next day: %d buckets, %d quotas; want 0, 0", b, q)
	}
}

// TestMemoryQuotaRestore: quota counters saved at shutdown and restored at
// start keep a consumer's count; those of ended periods are ignored.
func TestMemoryQuotaRestore(t *testing.T) {
	clock := newFakeClock(t0)
	m := NewMemory(MemoryOptions{Now: clock.Now})
	quota := func(tag, name string, limit int64, per Period) Request {
		var r Request
		r.Quota = Quota{Tag: tag, Name: name, Limit: limit, Per: per}
		return r
	}
	admitCount(t, m, quota("acme", "q:month", 1000, periodMonth), 7)
	admitCount(t, m, quota("10.0.0.1}:x", "q:day", 1000, periodDay), 2)
	admitCount(t, m, quota("globex", "q:hour", 5, periodHour), 5)
	saved := m.QuotaCounts()
	m.Close()
	slices.SortFunc(saved, func(a, b store.QuotaCount) int { return strings.Compare(a.Key, b.Key) })
	want := []store.QuotaCount{
		{Key: "{10.0.0.1}:x}:q:day", PeriodEnd: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), Count: 2},
		{Key: "{acme}:q:month", PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Count: 7},
		{Key: "{globex}:q:hour", PeriodEnd: time.Date(2026, 11, 3, 11, 0, 0, 0, time.UTC), Count: 5},
	}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Fatalf("QuotaCounts() mismatch (-want +got):\n%s", diff)
	}

	// A restart within the hour: every count is back.
	clock.Add(30 * time.Minute)
	m2 := NewMemory(MemoryOptions{Now: clock.Now})
	defer m2.Close()
	m2.RestoreQuotas(append(saved,
		store.QuotaCount{Key: "{initech}:q:day", PeriodEnd: t0.Add(-time.Hour), Count: 99}, // ended
		store.QuotaCount{Key: "no braces", PeriodEnd: t0.AddDate(1, 0, 0), Count: 99},
	))
	if got := admitCount(t, m2, quota("acme", "q:month", 10, periodMonth), 10); got != 3 {
		t.Fatalf("acme after restore: admitted %d, want 3", got)
	}
	if got := admitCount(t, m2, quota("10.0.0.1}:x", "q:day", 3, periodDay), 10); got != 1 {
		t.Fatalf("tag with a brace after restore: admitted %d, want 1", got)
	}
	if got := admitCount(t, m2, quota("globex", "q:hour", 5, periodHour), 1); got != 0 {
		t.Fatalf("globex after restore: admitted %d, want 0", got)
	}
	if _, q := m2.Len(); q != 3 {
		t.Fatalf("%d quota counters, want 3 (the ended and malformed ones ignored)", q)
	}
	// The hour ends: globex starts afresh.
	clock.Add(30 * time.Minute)
	if got := admitCount(t, m2, quota("globex", "q:hour", 5, periodHour), 10); got != 5 {
		t.Fatalf("globex next hour: admitted %d, want 5", got)
	}
}

func TestParseQuotaKey(t *testing.T) {
	tests := []struct {
		in   string
		want key
		ok   bool
	}{
		{"{acme}:q:month", key{"acme", "q:month"}, true},
		{"{a}b}:q:day", key{"a}b", "q:day"}, true},
		{"{}:q:day", key{"", "q:day"}, true},
		{"{acme}q:day", key{}, false},
		{"acme:q:day", key{}, false},
		{"{acme}:", key{}, false},
		{"{acme", key{}, false},
		{"", key{}, false},
	}
	for _, tt := range tests {
		got, ok := parseQuotaKey(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseQuotaKey(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzQuotaKey(f *testing.F) {
	f.Add("acme", "q:month")
	f.Add("a}b{", "q:day")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, tag, name string) {
		if name != "" && !strings.Contains(name, "}") {
			if got, ok := parseQuotaKey(quotaKey(key{tag, name})); !ok || got != (key{tag, name}) {
				t.Fatalf("round trip of %q, %q: %v, %v", tag, name, got, ok)
			}
		}
		// Any string: parsing never panics, and what parses prints back.
		s := tag + name
		if k, ok := parseQuotaKey(s); ok && quotaKey(k) != s {
			t.Fatalf("parseQuotaKey(%q) = %v, which prints as %q", s, k, quotaKey(k))
		}
	})
}

// TestMemoryClose: Close stops the sweeper and may be called twice.
func TestMemoryClose(t *testing.T) {
	m := NewMemory(MemoryOptions{SweepEvery: time.Millisecond})
	time.Sleep(5 * time.Millisecond)
	m.Close()
	m.Close()
	select {
	case <-m.done:
	default:
		t.Fatal("sweeper still running")
	}
}

// TestMemoryLocksOneShardPerIdentity: a decision about one identity (its
// plan's bucket, a route's bucket and its quota) takes one shard's lock,
// whatever the buckets' names; decisions about different identities
// spread over the shards; and a decision naming two identities locks both
// shards, in ascending order.
func TestMemoryLocksOneShardPerIdentity(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()

	for _, req := range benchRequests(200) {
		idx, locks := m.lockAll(&req)
		m.unlockAll(&locks)
		if locks.n != 1 {
			t.Fatalf("%s: %d shards locked, want 1", req.Buckets[0].Tag, locks.n)
		}
		want := m.shardOf(req.Buckets[0].Tag)
		if idx[0] != want || idx[1] != want || idx[maxBuckets] != want {
			t.Fatalf("%s: shards %d, %d and quota %d, want all %d", req.Buckets[0].Tag, idx[0], idx[1], idx[maxBuckets], want)
		}
	}

	used := map[uint8]bool{}
	for i := range 1000 {
		used[m.shardOf(fmt.Sprintf("198.51.100.%d", i))] = true
	}
	if len(used) < shardCount*3/4 {
		t.Fatalf("1,000 identities used %d of %d shards", len(used), shardCount)
	}

	// Two identities in one decision (a route keyed by IP beside a
	// consumer's plan): both shards, ascending, whatever the order given.
	var a, b string
	for i := 0; a == "" || b == ""; i++ {
		tag := fmt.Sprintf("id-%d", i)
		switch {
		case a == "":
			a = tag
		case m.shardOf(tag) != m.shardOf(a):
			b = tag
		}
	}
	var req Request
	req.Add(Bucket{Tag: a, Name: "p:gold", Rate: Rate{Requests: 10, Per: time.Second}})
	req.Add(Bucket{Tag: b, Name: "r:orders:ip", Rate: Rate{Requests: 10, Per: time.Second}})
	req.Quota = Quota{Tag: a, Name: "q:month", Limit: 100, Per: periodMonth}
	idx, locks := m.lockAll(&req)
	m.unlockAll(&locks)
	if locks.n != 2 || locks.idx[0] >= locks.idx[1] {
		t.Fatalf("locked %v, want two shards ascending", locks.idx[:locks.n])
	}
	if idx[0] != m.shardOf(a) || idx[1] != m.shardOf(b) || idx[maxBuckets] != m.shardOf(a) {
		t.Fatalf("shards %d, %d, quota %d; want %d, %d, %d", idx[0], idx[1], idx[maxBuckets], m.shardOf(a), m.shardOf(b), m.shardOf(a))
	}
	if d := m.Take(context.Background(), req); !d.Allowed || d.Quota.Remaining != 99 {
		t.Fatalf("decision %+v, want allowed with 99 of the quota left", d)
	}
}
