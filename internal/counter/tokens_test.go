package counter

import (
	"context"
	"sync"
	"testing"
	"time"
)

// tokenReq is a token_limit of tokens per per and a monthly token_quota.
func tokenReq(tag string, tokens int64, per time.Duration, quota int64) Request {
	var r Request
	r.Add(Bucket{Tag: tag, Name: "t:pro", Rate: Rate{Requests: tokens, Per: per, Burst: tokens}})
	if quota > 0 {
		r.Quota = Quota{Tag: tag, Name: "tq:month", Limit: quota, Per: periodMonth}
	}
	return r
}

// TestTokens drives a token bucket and quota through admissions and
// spends on a fake clock, the same steps on every driver.
func TestTokens(t *testing.T) {
	type op struct {
		advance time.Duration
		spend   int64 // > 0: Spend; 0: Admit
		// For Admit: the decision wanted.
		allowed   bool
		reason    Reason
		remaining int64
		quotaLeft int64
		retry     time.Duration
	}
	tests := []struct {
		name   string
		tokens int64
		per    time.Duration
		quota  int64
		ops    []op
	}{
		{
			name: "1000-token bucket, 400-token answers: three admitted, the fourth refused", tokens: 1000, per: time.Minute,
			ops: []op{
				{allowed: true, remaining: 1000}, {spend: 400},
				{allowed: true, remaining: 600}, {spend: 400},
				{allowed: true, remaining: 200}, {spend: 400},
				// -200: refused until 201 tokens came back (201 × 60ms).
				{allowed: false, reason: reasonRate, remaining: -200, retry: 201 * 60 * time.Millisecond},
				{advance: 12 * time.Second, allowed: false, reason: reasonRate, retry: 60 * time.Millisecond},
				{advance: 60 * time.Millisecond, allowed: true, remaining: 1},
			},
		},
		{
			name: "quota counts tokens", tokens: 1_000_000, per: time.Minute, quota: 500,
			ops: []op{
				{allowed: true, remaining: 1_000_000, quotaLeft: 500}, {spend: 499},
				{allowed: true, remaining: 999_501, quotaLeft: 1}, {spend: 2},
				{allowed: false, reason: ReasonQuota, remaining: 999_499, quotaLeft: -1},
				{advance: 24 * time.Hour, allowed: false, reason: ReasonQuota},
				// The next month starts afresh.
				{advance: 28 * 24 * time.Hour, allowed: true, remaining: 1_000_000, quotaLeft: 500},
			},
		},
		{
			name: "a huge spend is bounded", tokens: 10, per: time.Hour,
			ops: []op{
				{spend: 1 << 62},
				{allowed: false, reason: reasonRate},
				{spend: 1 << 62},
				{allowed: false, reason: reasonRate},
			},
		},
	}
	for _, dr := range drivers() {
		t.Run(dr.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					clock := newFakeClock(t0)
					c := dr.new(t, clock.Now)
					req := tokenReq("acme", tt.tokens, tt.per, tt.quota)
					for i, o := range tt.ops {
						clock.Add(o.advance)
						if o.spend > 0 {
							c.Spend(context.Background(), req, o.spend)
							continue
						}
						d := c.Admit(context.Background(), req)
						if d.Degraded {
							t.Fatalf("op %d: degraded", i)
						}
						if d.Allowed != o.allowed || d.Reason != o.reason {
							t.Fatalf("op %d: Admit() = allowed %v reason %d, want %v %d", i, d.Allowed, d.Reason, o.allowed, o.reason)
						}
						if o.remaining != 0 && d.Buckets[0].Remaining != o.remaining {
							t.Errorf("op %d: Remaining = %d, want %d", i, d.Buckets[0].Remaining, o.remaining)
						}
						if o.quotaLeft != 0 && d.Quota.Remaining != o.quotaLeft {
							t.Errorf("op %d: quota Remaining = %d, want %d", i, d.Quota.Remaining, o.quotaLeft)
						}
						if o.retry != 0 && d.RetryAfter != o.retry {
							t.Errorf("op %d: RetryAfter = %v, want %v", i, d.RetryAfter, o.retry)
						}
					}
				})
			}
		})
	}
}

// TestTokensShared: spends from two nodes and many goroutines add up
// exactly in one bucket and quota.
func TestTokensShared(t *testing.T) {
	f := newRedisFixture(t)
	a := f.counter(t, RedisOptions{})
	b := f.counter(t, RedisOptions{})
	req := tokenReq("shared", 1_000_000_000, time.Hour, 1_000_000_000)
	var wg sync.WaitGroup
	for _, c := range []Counter{a, b} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					c.Spend(context.Background(), req, 7)
				}
			}()
		}
	}
	wg.Wait()
	d := a.Admit(context.Background(), req)
	if got, want := d.Quota.Remaining, int64(1_000_000_000-2*4*50*7); got != want {
		t.Errorf("quota Remaining = %d, want %d", got, want)
	}
	// The bucket refilled a little meanwhile; it cannot have more.
	if got, max := d.Buckets[0].Remaining, int64(1_000_000_000-2*4*50*7)+1_000_000; got > max || got < max-1_000_000-1 {
		t.Errorf("bucket Remaining = %d, want about %d", got, max-1_000_000)
	}
}
