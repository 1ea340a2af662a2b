package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/store"
)

// at parses an RFC 3339 time of a fixture.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// counts builds UsageCounts whose measures are all distinct multiples of n,
// so a sum that took a row twice or missed one shows in every column.
func counts(n int64) store.UsageCounts {
	return store.UsageCounts{
		Requests: n, Admitted: n, Billable: n, Units: 3 * n, Errors: 2 * n,
		BytesIn: 100 * n, BytesOut: 1000 * n, LatencyMicros: 5000 * n,
		WSMessagesIn: 7 * n, WSMessagesOut: 11 * n, WSMillis: 13 * n,
		InputTokens: 17 * n, OutputTokens: 19 * n,
	}
}

// testUsageModels checks that the model is part of a row's key and that
// totals group by it.
func testUsageModels(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	m := at("2026-11-03T10:15:00Z")
	row := func(model string, n int64) store.UsageRow {
		return store.UsageRow{Bucket: m, Consumer: "acme", Route: "chat", Model: model, UsageCounts: counts(n)}
	}
	mustUpsert(t, s, "node-a", []store.UsageRow{row("gpt-4.1", 1), row("gpt-4o-mini", 2), row("", 4)})
	// Absolute per model: rewriting one model's row leaves the others.
	mustUpsert(t, s, "node-a", []store.UsageRow{row("gpt-4.1", 8)})
	mustUpsert(t, s, "node-b", []store.UsageRow{row("gpt-4.1", 16)})
	q := store.UsageQuery{From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z"), GroupBy: store.GroupByModel}
	want := []store.UsageTotal{
		{Consumer: "acme", Model: "", UsageCounts: counts(4)},
		{Consumer: "acme", Model: "gpt-4.1", UsageCounts: counts(8 + 16)},
		{Consumer: "acme", Model: "gpt-4o-mini", UsageCounts: counts(2)},
	}
	if diff := cmp.Diff(want, mustQuery(t, s, q)); diff != "" {
		t.Errorf("QueryUsage(by model) mismatch (-want +got):\n%s", diff)
	}
	q.GroupBy = store.GroupByNone
	if diff := cmp.Diff([]store.UsageTotal{{Consumer: "acme", UsageCounts: counts(4 + 8 + 16 + 2)}}, mustQuery(t, s, q)); diff != "" {
		t.Errorf("QueryUsage(ungrouped) mismatch (-want +got):\n%s", diff)
	}
}

func mustUpsert(t *testing.T, s store.Store, node string, rows []store.UsageRow) {
	t.Helper()
	if err := s.UpsertUsage(t.Context(), node, rows); err != nil {
		t.Fatalf("UpsertUsage(%s, %d rows): %v", node, len(rows), err)
	}
}

func mustQuery(t *testing.T, s store.Store, q store.UsageQuery) []store.UsageTotal {
	t.Helper()
	got, err := s.QueryUsage(t.Context(), q)
	if err != nil {
		t.Fatalf("QueryUsage(%+v): %v", q, err)
	}
	return got
}

// testUsageUpsert checks what lets a flush be retried and several nodes
// share a database: rows are absolute per node, sums are across nodes.
func testUsageUpsert(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	m := at("2026-11-03T10:15:00Z")
	row := func(n int64) []store.UsageRow {
		return []store.UsageRow{{Bucket: m, Consumer: "acme", Route: "orders", Version: "v2", UsageCounts: counts(n)}}
	}
	q := store.UsageQuery{Consumer: "acme", From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")}
	total := func() store.UsageCounts {
		t.Helper()
		got := mustQuery(t, s, q)
		if len(got) != 1 {
			t.Fatalf("QueryUsage() = %d totals, want 1: %+v", len(got), got)
		}
		return got[0].UsageCounts
	}

	steps := []struct {
		name string
		node string
		n    int64
		want int64
	}{
		{name: "first write", node: "node-a", n: 10, want: 10},
		{name: "replayed write does not double count", node: "node-a", n: 10, want: 10},
		{name: "later totals replace earlier ones", node: "node-a", n: 25, want: 25},
		{name: "a second node's row adds", node: "node-b", n: 4, want: 29},
		{name: "the second node replays", node: "node-b", n: 4, want: 29},
		{name: "the first node's final value", node: "node-a", n: 30, want: 34},
	}
	for _, st := range steps {
		mustUpsert(t, s, st.node, row(st.n))
		if diff := cmp.Diff(counts(st.want), total()); diff != "" {
			t.Errorf("%s: totals mismatch (-want +got):\n%s", st.name, diff)
		}
	}

	if err := s.UpsertUsage(ctx, "", row(1)); err == nil {
		t.Error("UpsertUsage with an empty node id = nil, want an error")
	}
	if err := s.UpsertUsage(ctx, "node-a", nil); err != nil {
		t.Errorf("UpsertUsage(no rows) = %v, want nil", err)
	}

	// More rows than one statement carries, with the same keys in two
	// nodes: every row must land once.
	const n = 247
	var many []store.UsageRow
	for i := range n {
		many = append(many, store.UsageRow{
			Bucket:   at("2026-11-04T00:00:00Z").Add(time.Duration(i) * time.Minute),
			Consumer: "globex", Route: fmt.Sprintf("route-%d", i%7), Version: "",
			UsageCounts: counts(int64(i%5 + 1)),
		})
	}
	mustUpsert(t, s, "node-a", many)
	mustUpsert(t, s, "node-b", many)
	mustUpsert(t, s, "node-a", many)
	var want store.UsageCounts
	for _, r := range many {
		want.Add(r.UsageCounts)
		want.Add(r.UsageCounts)
	}
	got := mustQuery(t, s, store.UsageQuery{Consumer: "globex", From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")})
	if len(got) != 1 {
		t.Fatalf("QueryUsage(globex) = %+v, want one total", got)
	}
	if diff := cmp.Diff(want, got[0].UsageCounts); diff != "" {
		t.Errorf("totals of %d rows on two nodes mismatch (-want +got):\n%s", n, diff)
	}
}

// testUsageQuery checks ranges and grouping, across a month boundary and
// with buckets given in other time zones.
func testUsageQuery(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	cet := time.FixedZone("CET", 3600)
	rows := []store.UsageRow{
		{Bucket: at("2026-11-30T22:59:00Z"), Consumer: "acme", Route: "orders", UsageCounts: counts(1)},
		// 2026-11-30T23:10Z, written as CET (already December 1st there).
		{Bucket: at("2026-11-30T23:10:00Z").In(cet), Consumer: "acme", Route: "users", UsageCounts: counts(2)},
		{Bucket: at("2026-11-30T23:59:00Z"), Consumer: "acme", Route: "orders", Version: "v2", UsageCounts: counts(4)},
		{Bucket: at("2026-12-01T00:00:00Z"), Consumer: "acme", Route: "orders", UsageCounts: counts(8)},
		{Bucket: at("2026-12-01T00:30:00Z"), Consumer: "acme", Route: "users", UsageCounts: counts(16)},
		{Bucket: at("2026-12-01T01:00:00Z"), Consumer: "globex", Route: "orders", UsageCounts: counts(32)},
		{Bucket: at("2026-12-02T00:00:00Z"), Consumer: "acme", Route: "orders", UsageCounts: counts(64)},
		{Bucket: at("2026-11-30T23:59:00Z"), Consumer: "", Route: "public", UsageCounts: counts(128)},
		// Sorted byte by byte on both databases, whatever the collation.
		{Bucket: at("2026-11-15T00:00:00Z"), Consumer: "Zeta", Route: "orders", UsageCounts: counts(512)},
		{Bucket: at("2026-11-15T00:00:00Z"), Consumer: "_batch", Route: "orders", UsageCounts: counts(1024)},
	}
	mustUpsert(t, s, "node-a", rows[:5])
	mustUpsert(t, s, "node-b", rows[5:])
	// node-c counts in the same minutes as node-a.
	mustUpsert(t, s, "node-c", []store.UsageRow{
		{Bucket: at("2026-11-30T23:59:00Z"), Consumer: "acme", Route: "orders", Version: "v2", UsageCounts: counts(256)},
	})

	day := func(s string) time.Time { return at(s + "T00:00:00Z") }
	nov := [2]time.Time{day("2026-11-01"), day("2026-12-01")}
	dec := [2]time.Time{day("2026-12-01"), day("2027-01-01")}
	tests := []struct {
		name  string
		q     store.UsageQuery
		want  []store.UsageTotal
		empty bool
	}{
		{
			name: "november by day: the month ends at midnight UTC",
			q:    store.UsageQuery{Consumer: "acme", From: nov[0], To: nov[1], GroupBy: store.GroupByDay},
			want: []store.UsageTotal{{Consumer: "acme", Period: day("2026-11-30"), UsageCounts: counts(1 + 2 + 4 + 256)}},
		},
		{
			name: "december by day",
			q:    store.UsageQuery{Consumer: "acme", From: dec[0], To: dec[1], GroupBy: store.GroupByDay},
			want: []store.UsageTotal{
				{Consumer: "acme", Period: day("2026-12-01"), UsageCounts: counts(8 + 16)},
				{Consumer: "acme", Period: day("2026-12-02"), UsageCounts: counts(64)},
			},
		},
		{
			name: "by hour across midnight",
			q:    store.UsageQuery{Consumer: "acme", From: at("2026-11-30T22:00:00Z"), To: at("2026-12-01T01:00:00Z"), GroupBy: store.GroupByHour},
			want: []store.UsageTotal{
				{Consumer: "acme", Period: at("2026-11-30T22:00:00Z"), UsageCounts: counts(1)},
				{Consumer: "acme", Period: at("2026-11-30T23:00:00Z"), UsageCounts: counts(2 + 4 + 256)},
				{Consumer: "acme", Period: at("2026-12-01T00:00:00Z"), UsageCounts: counts(8 + 16)},
			},
		},
		{
			name: "by route, every consumer, anonymous first",
			q:    store.UsageQuery{From: at("2026-11-30T00:00:00Z"), To: at("2026-12-01T00:31:00Z"), GroupBy: store.GroupByRoute},
			want: []store.UsageTotal{
				{Consumer: "", Route: "public", UsageCounts: counts(128)},
				{Consumer: "acme", Route: "orders", UsageCounts: counts(1 + 4 + 256 + 8)},
				{Consumer: "acme", Route: "users", UsageCounts: counts(2 + 16)},
			},
		},
		{
			name: "ungrouped: one total per consumer",
			q:    store.UsageQuery{From: nov[0], To: dec[1]},
			want: []store.UsageTotal{
				{Consumer: "", UsageCounts: counts(128)},
				{Consumer: "Zeta", UsageCounts: counts(512)},
				{Consumer: "_batch", UsageCounts: counts(1024)},
				{Consumer: "acme", UsageCounts: counts(1 + 2 + 4 + 8 + 16 + 64 + 256)},
				{Consumer: "globex", UsageCounts: counts(32)},
			},
		},
		{
			name: "to is exclusive, from inclusive",
			q:    store.UsageQuery{Consumer: "acme", From: at("2026-11-30T23:59:00Z"), To: at("2026-12-01T00:30:00Z")},
			want: []store.UsageTotal{{Consumer: "acme", UsageCounts: counts(4 + 256 + 8)}},
		},
		{
			name: "bounds in another zone mean the same instants",
			q:    store.UsageQuery{Consumer: "acme", From: at("2026-11-30T23:59:00Z").In(cet), To: at("2026-12-01T00:30:00Z").In(cet)},
			want: []store.UsageTotal{{Consumer: "acme", UsageCounts: counts(4 + 256 + 8)}},
		},
		{
			name: "a bound inside a second",
			q:    store.UsageQuery{Consumer: "acme", From: at("2026-11-30T23:58:59Z").Add(time.Millisecond), To: at("2026-12-01T00:00:00Z").Add(time.Millisecond)},
			want: []store.UsageTotal{{Consumer: "acme", UsageCounts: counts(4 + 256 + 8)}},
		},
		{
			name:  "unknown consumer",
			q:     store.UsageQuery{Consumer: "initech", From: nov[0], To: dec[1], GroupBy: store.GroupByDay},
			empty: true,
		},
		{
			name:  "empty range",
			q:     store.UsageQuery{Consumer: "acme", From: nov[1], To: nov[1]},
			empty: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustQuery(t, s, tt.q)
			if tt.empty {
				if got == nil || len(got) != 0 {
					t.Fatalf("QueryUsage() = %#v, want an empty, non-nil list", got)
				}
				return
			}
			for _, g := range got {
				if !g.Period.IsZero() && g.Period.Location() != time.UTC {
					t.Errorf("Period %v is not in UTC", g.Period)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("QueryUsage(%+v) mismatch (-want +got):\n%s", tt.q, diff)
			}
		})
	}
	if _, err := s.QueryUsage(t.Context(), store.UsageQuery{From: nov[0], To: nov[1], GroupBy: "week"}); err == nil {
		t.Error("QueryUsage(group by week) = nil error, want one")
	}
}

func testDeleteUsage(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	var rows []store.UsageRow
	for i := range 10 {
		rows = append(rows, store.UsageRow{Bucket: at("2026-11-03T10:00:00Z").Add(time.Duration(i) * time.Minute), Consumer: "acme", Route: "orders", UsageCounts: counts(1)})
	}
	mustUpsert(t, s, "node-a", rows)
	mustUpsert(t, s, "node-b", rows[:2])
	n, err := s.DeleteUsageBefore(t.Context(), at("2026-11-03T10:04:00Z"))
	if err != nil {
		t.Fatalf("DeleteUsageBefore(): %v", err)
	}
	if n != 6 {
		t.Errorf("DeleteUsageBefore() removed %d rows, want 6 (4 of node-a, 2 of node-b)", n)
	}
	got := mustQuery(t, s, store.UsageQuery{From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")})
	if len(got) != 1 || got[0].UsageCounts != counts(6) {
		t.Errorf("after DeleteUsageBefore, QueryUsage() = %+v, want the 6 newer minutes", got)
	}
	if n, err := s.DeleteUsageBefore(t.Context(), at("2026-11-03T10:04:00Z")); err != nil || n != 0 {
		t.Errorf("DeleteUsageBefore() again = %d, %v, want 0, nil", n, err)
	}
}

func testQuotaCounts(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	hour, month := now.Add(time.Hour), now.Add(30*24*time.Hour)
	save := func(cs ...store.QuotaCount) {
		t.Helper()
		if err := s.SaveQuotaCounts(ctx, cs); err != nil {
			t.Fatalf("SaveQuotaCounts(): %v", err)
		}
	}
	load := func(at time.Time) []store.QuotaCount {
		t.Helper()
		got, err := s.LoadQuotaCounts(ctx, at)
		if err != nil {
			t.Fatalf("LoadQuotaCounts(): %v", err)
		}
		return got
	}

	if got := load(now); got == nil || len(got) != 0 {
		t.Errorf("LoadQuotaCounts() of an empty store = %#v, want an empty list", got)
	}
	save(
		store.QuotaCount{Key: "quota:month:globex", PeriodEnd: month, Count: 12},
		store.QuotaCount{Key: "quota:hour:acme", PeriodEnd: hour.In(time.FixedZone("CET", 3600)), Count: 7},
		store.QuotaCount{Key: "quota:hour:initech", PeriodEnd: now.Add(-time.Minute), Count: 99},
	)
	want := []store.QuotaCount{
		{Key: "quota:hour:acme", PeriodEnd: hour, Count: 7},
		{Key: "quota:month:globex", PeriodEnd: month, Count: 12},
	}
	if diff := cmp.Diff(want, load(now)); diff != "" {
		t.Errorf("LoadQuotaCounts(now) mismatch (-want +got):\n%s", diff)
	}
	// Counts are absolute: a later save replaces, it does not add.
	save(store.QuotaCount{Key: "quota:hour:acme", PeriodEnd: hour, Count: 9})
	want[0].Count = 9
	if diff := cmp.Diff(want, load(now)); diff != "" {
		t.Errorf("after a second save, LoadQuotaCounts mismatch (-want +got):\n%s", diff)
	}
	// PeriodEnd must be after now: equal is over.
	if diff := cmp.Diff(want[1:], load(hour)); diff != "" {
		t.Errorf("LoadQuotaCounts(end of the hour) mismatch (-want +got):\n%s", diff)
	}
	if err := s.SaveQuotaCounts(ctx, []store.QuotaCount{{Key: "", PeriodEnd: month}}); err == nil {
		t.Error("SaveQuotaCounts(empty key) = nil, want an error")
	}
	if diff := cmp.Diff(want, load(now)); diff != "" {
		t.Errorf("a refused save changed the counts (-want +got):\n%s", diff)
	}
}

// testUsageConcurrency has several nodes flushing at once, each replaying
// its rows, as gateways sharing a database do every second.
func testUsageConcurrency(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const nodes, flushes = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, nodes*flushes)
	for n := range nodes {
		wg.Go(func() {
			node := fmt.Sprintf("node-%d", n)
			for f := range flushes {
				var rows []store.UsageRow
				for c := range 20 {
					rows = append(rows, store.UsageRow{Bucket: at("2026-11-03T10:00:00Z"), Consumer: fmt.Sprintf("consumer-%02d", c), Route: "orders", UsageCounts: counts(int64(f + 1))})
				}
				if err := s.UpsertUsage(t.Context(), node, rows); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpsertUsage(): %v", err)
	}
	got := mustQuery(t, s, store.UsageQuery{From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")})
	if len(got) != 20 {
		t.Fatalf("QueryUsage() = %d consumers, want 20", len(got))
	}
	for _, g := range got {
		if g.UsageCounts != counts(nodes*flushes) {
			t.Errorf("%s: totals %+v, want the last flush of each node (%+v)", g.Consumer, g.UsageCounts, counts(nodes*flushes))
		}
	}
}

// sharedUsage checks that rows written through one store are read through
// another on the same database: reports on any node see every node.
func sharedUsage(t *testing.T, a, b store.Store) {
	t.Helper()
	m := at("2026-11-03T10:15:00Z")
	mustUpsert(t, a, "node-a", []store.UsageRow{{Bucket: m, Consumer: "acme", Route: "orders", UsageCounts: counts(3)}})
	mustUpsert(t, b, "node-b", []store.UsageRow{{Bucket: m, Consumer: "acme", Route: "orders", UsageCounts: counts(5)}})
	q := store.UsageQuery{Consumer: "acme", From: at("2026-11-01T00:00:00Z"), To: at("2026-12-01T00:00:00Z")}
	for name, s := range map[string]store.Store{"first": a, "second": b} {
		got := mustQuery(t, s, q)
		if len(got) != 1 || got[0].UsageCounts != counts(8) {
			t.Errorf("QueryUsage() on the %s store = %+v, want both nodes' rows summed", name, got)
		}
	}
}
