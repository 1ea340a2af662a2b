package counter

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// step moves the clock, then sends attempts decisions one by one.
type step struct {
	advance  time.Duration
	attempts int
	admitted int
	// remaining and reset are checked after the step when wantState.
	wantState bool
	remaining int64
	reset     time.Duration
}

// TestBucket drives one bucket through bursts and refills on a fake clock,
// the same steps on every driver.
func TestBucket(t *testing.T) {
	tests := []struct {
		name  string
		rate  Rate
		steps []step
	}{
		{
			name: "contract example: 12 at once to 5 per 10s admit 5",
			rate: Rate{Requests: 5, Per: 10 * time.Second, Burst: 5},
			steps: []step{
				{attempts: 12, admitted: 5, wantState: true, remaining: 0, reset: 2 * time.Second},
				{advance: 1999 * time.Millisecond, attempts: 3, admitted: 0, wantState: true, reset: time.Millisecond},
				{advance: time.Millisecond, attempts: 3, admitted: 1},
				{advance: time.Hour, attempts: 12, admitted: 5},
			},
		},
		{
			name: "refill is one token per interval",
			rate: Rate{Requests: 10, Per: time.Second, Burst: 10},
			steps: []step{
				{attempts: 10, admitted: 10},
				{advance: 100 * time.Millisecond, attempts: 5, admitted: 1},
				{advance: 350 * time.Millisecond, attempts: 5, admitted: 3, wantState: true, remaining: 0, reset: 50 * time.Millisecond},
				{advance: 50 * time.Millisecond, attempts: 5, admitted: 1},
			},
		},
		{
			name: "no double burst at a window edge",
			rate: Rate{Requests: 5, Per: 10 * time.Second, Burst: 5},
			steps: []step{
				{advance: 9900 * time.Millisecond, attempts: 5, admitted: 5},
				// A fixed window would start afresh at 10s and admit 5 more.
				{advance: 100 * time.Millisecond, attempts: 5, admitted: 0},
				{advance: 10 * time.Second, attempts: 10, admitted: 5},
			},
		},
		{
			name: "burst above the rate",
			rate: Rate{Requests: 10, Per: time.Second, Burst: 20},
			steps: []step{
				{attempts: 30, admitted: 20},
				{advance: time.Second, attempts: 30, admitted: 10},
				{advance: 5 * time.Second, attempts: 30, admitted: 20},
			},
		},
		{
			name: "burst below the rate",
			rate: Rate{Requests: 100, Per: time.Second, Burst: 10},
			steps: []step{
				{attempts: 50, admitted: 10, wantState: true, remaining: 0, reset: 10 * time.Millisecond},
				{advance: 50 * time.Millisecond, attempts: 50, admitted: 5},
				{advance: time.Second, attempts: 50, admitted: 10},
			},
		},
		{
			name: "fractional rate 100 per minute",
			rate: Rate{Requests: 100, Per: time.Minute, Burst: 100},
			steps: []step{
				{attempts: 150, admitted: 100},
				{advance: 599 * time.Millisecond, attempts: 5, admitted: 0},
				{advance: time.Millisecond, attempts: 5, admitted: 1},
				{advance: 6 * time.Second, attempts: 50, admitted: 10},
			},
		},
		{
			name: "fractional rate 3 per 10s",
			rate: Rate{Requests: 3, Per: 10 * time.Second, Burst: 3},
			steps: []step{
				{attempts: 5, admitted: 3},
				{advance: 3333 * time.Millisecond, attempts: 5, admitted: 0},
				{advance: time.Millisecond, attempts: 5, admitted: 1},
				{advance: 3332 * time.Millisecond, attempts: 5, admitted: 0},
				{advance: 2 * time.Millisecond, attempts: 5, admitted: 1},
			},
		},
		{
			name: "remaining counts down",
			rate: Rate{Requests: 4, Per: 4 * time.Second, Burst: 4},
			steps: []step{
				{attempts: 1, admitted: 1, wantState: true, remaining: 3},
				{attempts: 2, admitted: 2, wantState: true, remaining: 1},
				{advance: 500 * time.Millisecond, attempts: 1, admitted: 1, wantState: true, remaining: 0, reset: 500 * time.Millisecond},
			},
		},
	}
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					clock := newFakeClock(t0)
					c := dr.new(t, clock.Now)
					var req Request
					req.Add(Bucket{Tag: "203.0.113.9", Name: "r:orders:ip", Rate: tt.rate})
					for i, s := range tt.steps {
						clock.Add(s.advance)
						admitted := 0
						var last Decision
						for range s.attempts {
							last = c.Take(context.Background(), req)
							if last.Degraded {
								t.Fatalf("step %d: degraded decision", i)
							}
							if last.Allowed {
								admitted++
							} else if last.Reason != reasonRate || last.RetryAfter <= 0 {
								t.Fatalf("step %d: refusal %+v, want reasonRate with a RetryAfter", i, last)
							}
						}
						if admitted != s.admitted {
							t.Fatalf("step %d: admitted %d of %d, want %d", i, admitted, s.attempts, s.admitted)
						}
						st := last.Buckets[0]
						if st.Limit != tt.rate.Burst {
							t.Errorf("step %d: Limit = %d, want %d", i, st.Limit, tt.rate.Burst)
						}
						if s.wantState && (st.Remaining != s.remaining || st.Reset != s.reset) {
							t.Errorf("step %d: Remaining, Reset = %d, %v; want %d, %v", i, st.Remaining, st.Reset, s.remaining, s.reset)
						}
						if !last.Allowed && last.RetryAfter != st.Reset {
							t.Errorf("step %d: RetryAfter %v != Reset %v", i, last.RetryAfter, st.Reset)
						}
					}
				})
			}
		})
	}
}

// TestExactUnderConcurrency: 64 goroutines against a fresh bucket admit
// exactly its burst, then exactly the tokens the clock refills.
func TestExactUnderConcurrency(t *testing.T) {
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			clock := newFakeClock(t0)
			c := dr.new(t, clock.Now)
			req := limit("198.51.100.7", 50, time.Minute, 50)
			if got := concurrently(t, req, 64, 5, c); got != 50 {
				t.Fatalf("fresh bucket: 64 goroutines admitted %d, want 50", got)
			}
			for _, refill := range []int{1, 7, 20} {
				clock.Add(time.Duration(refill) * 1200 * time.Millisecond)
				if got := concurrently(t, req, 64, 3, c); got != refill {
					t.Fatalf("after %d intervals: admitted %d, want %d", refill, got, refill)
				}
			}
		})
	}
}

// TestAllOrNothing: tokens are taken only when every bucket has one; the
// quota is charged only when the buckets admit, and a used-up quota takes
// no tokens.
func TestAllOrNothing(t *testing.T) {
	plan := Bucket{Tag: "acme", Name: "p:gold", Rate: Rate{Requests: 5, Per: time.Hour, Burst: 5}}
	route := Bucket{Tag: "acme", Name: "r:orders:c", Rate: Rate{Requests: 3, Per: time.Hour, Burst: 3}}
	quota := func(n int64) Quota { return Quota{Tag: "acme", Name: "q:day", Limit: n, Per: periodDay} }
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			t.Run("stricter bucket wins, the other keeps its tokens", func(t *testing.T) {
				c := dr.new(t, newFakeClock(t0).Now)
				var both Request
				both.Add(plan)
				both.Add(route)
				if got := admitCount(t, c, both, 10); got != 3 {
					t.Fatalf("plan 5 + route 3: admitted %d, want 3", got)
				}
				d := c.Take(context.Background(), both)
				if d.Allowed || d.Reason != reasonRate || d.Bucket != 1 {
					t.Fatalf("refusal %+v, want reasonRate by bucket 1", d)
				}
				if d.Buckets[0].Remaining != 2 || d.Buckets[1].Remaining != 0 {
					t.Fatalf("remaining %d, %d; want 2, 0", d.Buckets[0].Remaining, d.Buckets[1].Remaining)
				}
				var planOnly Request
				planOnly.Add(plan)
				if got := admitCount(t, c, planOnly, 10); got != 2 {
					t.Fatalf("plan bucket alone afterwards: admitted %d, want 2", got)
				}
			})
			t.Run("keys of several identities", func(t *testing.T) {
				c := dr.new(t, newFakeClock(t0).Now)
				var req Request
				req.Add(Bucket{Tag: "192.0.2.1", Name: "r:orders:ip", Rate: Rate{Requests: 3, Per: time.Hour, Burst: 3}})
				req.Add(plan)
				req.Quota = quota(10)
				if got := admitCount(t, c, req, 6); got != 3 {
					t.Fatalf("admitted %d, want 3", got)
				}
				d := c.Take(context.Background(), req)
				if d.Allowed || d.Reason != reasonRate || d.Bucket != 0 {
					t.Fatalf("refusal %+v, want reasonRate by bucket 0", d)
				}
				if d.Buckets[1].Remaining != 2 || d.Quota.Remaining != 7 {
					t.Fatalf("plan remaining %d, quota remaining %d; want 2 and 7", d.Buckets[1].Remaining, d.Quota.Remaining)
				}
				// The refused attempts took nothing from the plan or the quota.
				var planOnly Request
				planOnly.Add(plan)
				planOnly.Quota = quota(10)
				if got := admitCount(t, c, planOnly, 10); got != 2 {
					t.Fatalf("plan bucket alone afterwards: admitted %d, want 2", got)
				}
				if d := c.Take(context.Background(), planOnly); d.Quota.Remaining != 5 {
					t.Fatalf("quota remaining %d, want 5", d.Quota.Remaining)
				}
			})
			t.Run("quota charged only for admitted requests", func(t *testing.T) {
				c := dr.new(t, newFakeClock(t0).Now)
				var req Request
				req.Add(route)
				req.Quota = quota(10)
				if got := admitCount(t, c, req, 5); got != 3 {
					t.Fatalf("admitted %d, want 3", got)
				}
				d := c.Take(context.Background(), req)
				if d.Quota.Remaining != 7 || d.Quota.Limit != 10 {
					t.Fatalf("quota %+v, want 7 of 10 remaining", d.Quota)
				}
			})
			t.Run("used-up quota takes no tokens", func(t *testing.T) {
				c := dr.new(t, newFakeClock(t0).Now)
				var req Request
				req.Add(plan)
				req.Quota = quota(2)
				if got := admitCount(t, c, req, 4); got != 2 {
					t.Fatalf("admitted %d, want 2", got)
				}
				d := c.Take(context.Background(), req)
				if d.Allowed || d.Reason != ReasonQuota {
					t.Fatalf("decision %+v, want ReasonQuota", d)
				}
				if want := 14 * time.Hour; d.RetryAfter != want || d.Quota.Reset != want {
					t.Fatalf("RetryAfter %v, Reset %v; want %v (to midnight UTC)", d.RetryAfter, d.Quota.Reset, want)
				}
				var planOnly Request
				planOnly.Add(plan)
				if got := admitCount(t, c, planOnly, 10); got != 3 {
					t.Fatalf("plan bucket afterwards: admitted %d, want 3", got)
				}
			})
		})
	}
}

// TestQuotaPeriods: a quota refuses until its UTC period ends, with
// RetryAfter to that end, and starts afresh at once after it.
func TestQuotaPeriods(t *testing.T) {
	tests := []struct {
		name    string
		per     Period
		at      time.Time
		wantEnd time.Time
	}{
		{"hour", periodHour, time.Date(2026, 11, 3, 10, 59, 59, 0, time.UTC), time.Date(2026, 11, 3, 11, 0, 0, 0, time.UTC)},
		{"hour at its start", periodHour, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 11, 0, 0, 0, time.UTC)},
		{"day", periodDay, time.Date(2026, 11, 3, 18, 30, 0, 0, time.UTC), time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)},
		{"day at new year", periodDay, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month december to january", periodMonth, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month january", periodMonth, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"month february, leap year", periodMonth, time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"month february, common year", periodMonth, time.Date(2027, 2, 28, 12, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"month february 2100, not leap", periodMonth, time.Date(2100, 2, 28, 23, 0, 0, 0, time.UTC), time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"month february 2000, leap", periodMonth, time.Date(2000, 2, 29, 23, 0, 0, 0, time.UTC), time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"day of a leap day", periodDay, time.Date(2028, 2, 29, 5, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"month of 30 days", periodMonth, time.Date(2026, 11, 30, 23, 59, 59, 999999000, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"month from another zone", periodMonth, time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if _, end := tt.per.Bounds(tt.at); !end.Equal(tt.wantEnd) {
						t.Fatalf("Bounds(%v) end = %v, want %v", tt.at, end, tt.wantEnd)
					}
					clock := newFakeClock(tt.at)
					c := dr.new(t, clock.Now)
					var req Request
					req.Quota = Quota{Tag: "acme", Name: "q:" + tt.per.String(), Limit: 3, Per: tt.per}
					if got := admitCount(t, c, req, 5); got != 3 {
						t.Fatalf("admitted %d, want 3", got)
					}
					d := c.Take(context.Background(), req)
					want := tt.wantEnd.Sub(tt.at)
					if d.Allowed || d.Reason != ReasonQuota || d.RetryAfter != want {
						t.Fatalf("decision %+v, want ReasonQuota with RetryAfter %v", d, want)
					}
					clock.Set(tt.wantEnd.Add(-time.Microsecond))
					if d := c.Take(context.Background(), req); d.Allowed {
						t.Fatalf("admitted a microsecond before the period's end")
					}
					clock.Set(tt.wantEnd)
					if got := admitCount(t, c, req, 5); got != 3 {
						t.Fatalf("next period: admitted %d, want 3", got)
					}
				})
			}
		})
	}
}

// TestQuotaPeriodsEveryMonth compares the drivers' month arithmetic (Go's
// time package in memory, the script's civil calendar in Redis) with
// Bounds, at the edges of every month of several years.
func TestQuotaPeriodsEveryMonth(t *testing.T) {
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			clock := newFakeClock(t0)
			c := dr.new(t, clock.Now)
			for y := 2023; y <= 2033; y++ {
				for m := time.January; m <= time.December; m++ {
					start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
					for _, at := range []time.Time{start, start.AddDate(0, 1, 0).Add(-time.Second)} {
						clock.Set(at)
						var req Request
						req.Quota = Quota{Tag: fmt.Sprintf("c-%d-%d", y, m), Name: "q:month", Limit: 1, Per: periodMonth}
						c.Take(context.Background(), req)
						d := c.Take(context.Background(), req)
						if _, end := periodMonth.Bounds(at); d.Allowed || d.RetryAfter != end.Sub(at) {
							t.Fatalf("%v: allowed %v, RetryAfter %v; want refused with %v", at, d.Allowed, d.RetryAfter, end.Sub(at))
						}
					}
				}
			}
		})
	}
}
