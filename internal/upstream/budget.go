package upstream

import (
	"sync/atomic"
	"time"
)

// Retry budget defaults, after Finagle's RetryBudget: retries may add 20% to
// the requests, plus a minimum of 3 per second so that a quiet upstream can
// still retry. The balance is capped at 10 seconds of the minimum, so a long
// calm period cannot save up a retry storm for the next outage.
const (
	BudgetRatio     = 0.2
	BudgetMinPerSec = 3
	budgetCap       = BudgetMinPerSec * 10 * token
	token           = 1_000_000 // the balance counts millionths of a token
)

// RetryBudget is a token bucket that bounds retries to a share of the
// traffic: every request deposits BudgetRatio of a token, time adds
// BudgetMinPerSec tokens a second, and every retry withdraws one. During an
// outage, when every first attempt fails, retries add at most about 20%
// load instead of multiplying it by 1+retries. Safe for concurrent use and
// lock-free; the cap is approximate under contention, which a budget can
// afford.
type RetryBudget struct {
	now     func() time.Time
	balance atomic.Int64
	last    atomic.Int64 // Unix nanoseconds of the last time refill
}

func newRetryBudget(now func() time.Time) *RetryBudget {
	if now == nil {
		now = time.Now
	}
	b := &RetryBudget{now: now}
	// A new budget starts with one second of the minimum, so the first
	// requests to a new upstream can retry. Reloads keep the budget (see
	// State), so they cannot hand out this start balance again.
	b.balance.Store(BudgetMinPerSec * token)
	b.last.Store(now().UnixNano())
	return b
}

// Deposit credits one request.
func (b *RetryBudget) Deposit() { b.add(int64(BudgetRatio * token)) }

func (b *RetryBudget) add(n int64) {
	if b.balance.Add(n) > budgetCap {
		b.balance.Store(budgetCap)
	}
}

// Withdraw takes one token for a retry and reports whether there was one.
func (b *RetryBudget) Withdraw() bool {
	now := b.now().UnixNano()
	if prev := b.last.Load(); now > prev && b.last.CompareAndSwap(prev, now) {
		// Past ten seconds the balance is full anyway; the bound keeps the
		// product from overflowing.
		d := min(now-prev, int64(10*time.Second))
		b.add(d * BudgetMinPerSec * token / int64(time.Second))
	}
	for {
		v := b.balance.Load()
		if v < token {
			return false
		}
		if b.balance.CompareAndSwap(v, v-token) {
			return true
		}
	}
}
