package upstream

import (
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/telemetry"
)

// MaxRetries bounds the extra attempts of one request or aggregate call,
// whatever the configuration says (config validation allows 0 to 10). It
// sizes the tried set of Attempts.
const MaxRetries = 10

// Attempts is the attempt loop of one proxied request or aggregate call:
// the first target, the targets tried so far, the retry budget and what is
// reported back to each target. It is a value meant to live on the stack
// (or inside the caller's per-request state): creating it and running a
// first attempt allocate nothing.
//
// The caller runs each attempt between Begin and Done, and asks Next for
// the target of another one:
//
//	at, err := pool.Attempts(r)             // the first target, or ErrNoHealthyUpstream
//	at.AllowRetries(retries)                // when the request may go again
//	for {
//		t := at.Begin()
//		... send to t; at.Answered() when its answer header arrives ...
//		at.Done(status, Classify(...))
//		if ok || at.Next() == nil { break }
//	}
//
// Next may also be called between Begin and Done, to learn whether an
// answer can be discarded for a retry before it is relayed. An Attempts is
// not safe for concurrent use: one request runs its attempts in turn.
type Attempts struct {
	pool *Pool
	r    *http.Request
	// cur is the target of the attempt begun last, next the one the next
	// Begin goes to (the first pick, then Next's).
	cur, next *Target
	// start is when the attempt began (monoNow), rtt its latency once
	// Answered.
	start, rtt time.Duration
	// n counts the attempts begun; retries is how many may follow the
	// first, 0 until AllowRetries. Both are at most MaxRetries+1: small
	// fields keep the value small, since the proxy allocates it with its
	// first attempt.
	n, retries uint8
	answered   bool
	// fail is why the attempt begun last got no answer (Failed), and
	// last what the attempt before it got: its status, or its failure
	// when the status is 0. Begin labels a retry with last.
	fail, lastFail Cause
	last           uint16
	tried          [MaxRetries + 1]*Target
}

// Cause says why an attempt got no answer; it labels the attempt in
// gantry_upstream_requests_total and the retry that follows it. The
// terminals map transport errors to it (forward.Cause).
type Cause uint8

const (
	// CauseUnknown is an attempt without an answer whose cause was not
	// given: labelled "error", as FailureOther.
	CauseUnknown Cause = iota
	// CauseConnect: the target could not be connected to.
	CauseConnect
	// CauseTimeout: no answer in the time allowed.
	CauseTimeout
	// CauseOther: a reset, a closed connection, an unreadable answer.
	CauseOther
)

// Label returns the failure's metric label (telemetry.Failure*).
func (f Cause) Label() string {
	switch f {
	case CauseConnect:
		return telemetry.FailureConnect
	case CauseTimeout:
		return telemetry.FailureTimeout
	}
	return telemetry.FailureError
}

// Attempts starts the attempt loop of r: it picks the first target, or
// returns ErrNoHealthyUpstream. Retries are off until AllowRetries. r may
// be nil for balancers that do not read the request; it must stay
// unmodified while the loop runs.
func (p *Pool) Attempts(r *http.Request) (Attempts, error) {
	t, err := p.Pick(r, nil)
	if err != nil {
		return Attempts{}, err
	}
	return Attempts{pool: p, r: r, next: t}, nil
}

// AllowRetries lets up to n attempts (at most MaxRetries) follow the first
// and, when n > 0, credits the request to the upstream's retry budget:
// only requests that may retry pay into it. Call it at most once, before
// the first Begin; the caller decides first whether the request may go
// again at all (method, body, upgrade).
func (a *Attempts) AllowRetries(n int) {
	a.retries = uint8(min(max(n, 0), MaxRetries))
	if a.retries > 0 {
		a.pool.budget.Deposit()
	}
}

// Target returns the target of the attempt begun last, or before the
// first Begin, the first target picked.
func (a *Attempts) Target() *Target {
	if a.cur == nil {
		return a.next
	}
	return a.cur
}

// N returns the number of attempts begun: 1 during the first.
func (a *Attempts) N() int { return int(a.n) }

// Begin starts an attempt on the target picked for it (the first target,
// then Next's) and returns that target: it joins the tried set, counts in
// flight and starts the attempt's clock. It returns nil when no target is
// pending. Every Begin that returns a target must be followed by one Done.
func (a *Attempts) Begin() *Target {
	t := a.next
	if t == nil {
		return nil
	}
	if a.n > 0 {
		// A retry: labelled by what the attempt before it got.
		reason := a.lastFail.Label()
		if a.last != 0 {
			reason = telemetry.StatusLabel(int(a.last))
		}
		a.pool.metrics.Retry(reason)
	}
	a.cur, a.next = t, nil
	a.tried[a.n] = t
	a.n++
	a.answered, a.rtt, a.fail = false, 0, CauseUnknown
	t.Begin()
	a.start = time.Duration(monoNow())
	return t
}

// Answered records the attempt's latency: the time to its answer header
// (or to the failure that ended it, for a caller that measures there).
// Without it, Done counts the time until Done.
func (a *Attempts) Answered() {
	a.rtt, a.answered = time.Duration(monoNow())-a.start, true
}

// Failed records why the attempt begun last got no answer; call it before
// its Done with status 0. Without it the attempt counts as CauseUnknown.
func (a *Attempts) Failed(f Cause) { a.fail = f }

// Done ends the attempt begun last: it reports its latency, its duration
// (from Begin to now: the caller calls Done once the answer is read), the
// status the target answered (0 for none) and outcome o to the target,
// then ends its in-flight count.
func (a *Attempts) Done(status int, o Outcome) {
	t := a.cur
	now := monoNow()
	total := time.Duration(now) - a.start
	rtt := a.rtt
	if !a.answered {
		rtt = total
	}
	t.report(rtt, status, a.fail, o, now)
	if o != Canceled && status != http.StatusSwitchingProtocols {
		// An upgraded connection's lifetime is no attempt's duration.
		t.state.tm.ObserveDuration(total)
	}
	t.Done()
	a.last, a.lastFail = uint16(min(max(status, 0), 999)), a.fail
}

// Next returns the target of another attempt, nil when there is none: the
// retries allowed are used up, no healthy target is left untried, or the
// upstream's retry budget has no token (one is withdrawn for every target
// returned). Begin starts the attempt on it. Calling Next again before that
// Begin returns the same target without withdrawing again. The caller
// decides whether the failure may be retried at all, and whether its
// client is still there.
func (a *Attempts) Next() *Target {
	if a.next != nil {
		return a.next
	}
	if a.n == 0 || a.n > a.retries {
		return nil
	}
	t, err := a.pool.Pick(a.r, a.tried[:a.n])
	if err != nil {
		return nil
	}
	if !a.pool.budget.Withdraw() {
		a.pool.metrics.BudgetExhausted()
		return nil
	}
	a.next = t
	return t
}

// Classify decides what one attempt says about its target, the rule proxy
// and aggregate share. In order:
//
//   - clientFault: the request failed on the caller's side (the client's
//     body was malformed, cut, late or too large): Canceled, whatever the
//     target made of it;
//   - a 5xx answer: Failure;
//   - canceled: the caller went away or called the attempt off, other than
//     by a time limit, or the client sent more than the route accepts:
//     Canceled;
//   - failed: no answer (connect error, reset, timeout), or an answer whose
//     body could not be read: Failure;
//   - anything else, an answer the caller did not like included: Success.
//
// The proxy and aggregate rules were written apart and turned out the
// same once their inputs are named: aggregate calls carry no client body
// (clientFault is always false for them), and a call's own timeout counts
// as failed, not canceled, as a proxy's response timeout does.
func Classify(status int, clientFault, canceled, failed bool) Outcome {
	switch {
	case clientFault:
		return Canceled
	case status >= 500:
		return Failure
	case canceled:
		return Canceled
	case failed:
		return Failure
	}
	return Success
}
