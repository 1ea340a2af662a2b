package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Config is one route's rate limiting.
type Config struct {
	// Counter decides. One serves the whole gateway, across routes and
	// config generations; on_failure is the Counter's.
	Counter counter.Counter
	// Route is the route's name: its buckets are per route and key value.
	Route string
	// Limit is the route's rate_limit with defaults applied (burst, key);
	// nil for none.
	Limit *config.RateLimit
	// Plans are the configured plans by name. A consumer's plan adds its
	// rate_limit (one bucket per consumer, shared by every route) and its
	// quota (per consumer).
	Plans map[string]*config.Plan
	// OnLimited, when set, is called on every 429 the plugin answers (for
	// gantry_rate_limited_total).
	OnLimited func()
	// OnDecision, when set, is called with every decision the plugin
	// makes (for gantry_ratelimit_decisions_total). Requests to which no
	// limit applies (no route limit, and a consumer whose plan has none)
	// make no decision.
	OnDecision func(Decision)
}

// Decision is what the plugin decided for one request.
type Decision uint8

const (
	// Allowed: within every limit and the quota (or the counters are
	// unreachable and on_failure is allow).
	Allowed Decision = iota
	// Limited: a rate limit refused the request (or the counters are
	// unreachable and on_failure is deny).
	Limited
	// QuotaExceeded: the consumer's quota for the period is used up.
	QuotaExceeded
)

// Validate checks c without I/O and reports every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.Counter == nil {
		errs = append(errs, errors.New("ratelimit: no counter"))
	}
	if c.Limit != nil {
		errs = append(errs, checkRate("rate_limit", c.Limit))
		if _, _, err := parseKey(c.Limit.Key); err != nil {
			errs = append(errs, fmt.Errorf("rate_limit.key: %w", err))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Plans)) {
		p := c.Plans[name]
		if p == nil {
			continue
		}
		if p.RateLimit != nil {
			errs = append(errs, checkRate("plans."+name+".rate_limit", p.RateLimit))
		}
		if q := p.Quota; q != nil {
			if _, ok := counter.ParsePeriod(q.Per); !ok {
				errs = append(errs, fmt.Errorf("plans.%s.quota.per: want hour, day or month, got %q", name, q.Per))
			}
			if q.Requests < 1 {
				errs = append(errs, fmt.Errorf("plans.%s.quota.requests: want at least 1, got %d", name, q.Requests))
			}
		}
	}
	return errors.Join(errs...)
}

func checkRate(path string, rl *config.RateLimit) error {
	switch {
	case rl.Requests < 1:
		return fmt.Errorf("%s.requests: want at least 1, got %d", path, rl.Requests)
	case rl.Per <= 0:
		return fmt.Errorf("%s.per: want a duration greater than zero", path)
	case rl.Burst < 1:
		return fmt.Errorf("%s.burst: want at least 1, got %d", path, rl.Burst)
	}
	return nil
}

// keyKind is what a route bucket is keyed on.
type keyKind uint8

const (
	keyConsumer keyKind = iota
	keyIP
	keyHeader
)

// parseKey reads consumer, ip or header:NAME; NAME comes back canonical.
func parseKey(s string) (keyKind, string, error) {
	switch {
	case s == "consumer":
		return keyConsumer, "", nil
	case s == "ip" || s == "":
		return keyIP, "", nil
	case strings.HasPrefix(s, "header:") && validHeaderName(s[len("header:"):]):
		return keyHeader, textproto.CanonicalMIMEHeaderKey(s[len("header:"):]), nil
	}
	return 0, "", fmt.Errorf("want consumer, ip or header:NAME, got %q", s)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// plan is a plan compiled for the request path.
type plan struct {
	bucket  string // "p:<plan>"
	rate    counter.Rate
	limited bool
	quota   counter.Quota // Tag filled per request
	// quotaMsg is the message of a quota_exceeded answer.
	quotaMsg string
}

// limiter is one route's compiled limits. It is immutable and safe for
// concurrent use.
type limiter struct {
	counter    counter.Counter
	onLimit    func()
	onDecision func(Decision)

	route  *counter.Rate
	kind   keyKind
	header string // canonical, for keyHeader
	nameIP string // "r:<route>:ip"
	// nameKey is the bucket's name for kind: "r:<route>:c" or
	// "r:<route>:h:<header>".
	nameKey    string
	plans      map[string]*plan
	rateMsg    string
	unavailMsg string
}

// New compiles c into the route's middleware. Routes without a limit whose
// plans carry none get a middleware that only calls the next handler.
func New(c Config) (pipeline.Middleware, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &limiter{
		counter:    c.Counter,
		onLimit:    c.OnLimited,
		onDecision: c.OnDecision,
		plans:      map[string]*plan{},
		rateMsg:    "rate limit exceeded",
		unavailMsg: "rate-limit counters are unavailable; try again shortly",
	}
	if rl := c.Limit; rl != nil {
		r := rate(rl)
		l.route = &r
		l.kind, l.header, _ = parseKey(rl.Key)
		l.nameIP = "r:" + c.Route + ":ip"
		switch l.kind {
		case keyConsumer:
			l.nameKey = "r:" + c.Route + ":c"
		case keyHeader:
			l.nameKey = "r:" + c.Route + ":h:" + strings.ToLower(l.header)
		}
		l.rateMsg = fmt.Sprintf("rate limit exceeded: %d requests per %s", rl.Requests, rl.Per)
	}
	for name, p := range c.Plans {
		if p == nil || (p.RateLimit == nil && p.Quota == nil) {
			continue
		}
		l.plans[name] = compilePlan(name, p)
	}
	if l.route == nil && len(l.plans) == 0 {
		return func(next pipeline.Handler) pipeline.Handler { return next }, nil
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return l.serve(next, w, r)
		})
	}, nil
}

// compilePlan compiles plan name's rate_limit and quota.
func compilePlan(name string, p *config.Plan) *plan {
	cp := &plan{bucket: "p:" + name}
	if rl := p.RateLimit; rl != nil {
		cp.rate, cp.limited = rate(rl), true
	}
	if q := p.Quota; q != nil {
		per, _ := counter.ParsePeriod(q.Per)
		cp.quota = counter.Quota{Name: "q:" + q.Per, Limit: q.Requests, Per: per}
		cp.quotaMsg = fmt.Sprintf("quota of %d requests per %s is used up", q.Requests, q.Per)
	}
	return cp
}

// request is the plan's counter request for a consumer: its bucket, if
// it has a rate limit, and its quota, if it has one.
func (p *plan) request(consumer string) counter.Request {
	var req counter.Request
	if p.limited {
		req.Add(counter.Bucket{Tag: consumer, Name: p.bucket, Rate: p.rate})
	}
	if p.quota.Limit > 0 {
		req.Quota = p.quota
		req.Quota.Tag = consumer
	}
	return req
}

// PlanRequest is the counter request plan name (p) makes for a consumer on
// every route: the bucket of its rate_limit and the counter of its quota,
// named as the limiter names them, so that Counter.Admit reads, without
// taking anything, what requests of that consumer are charged to. It is
// empty (N == 0, Quota.Limit == 0) for a plan with neither.
func PlanRequest(name string, p *config.Plan, consumer string) counter.Request {
	if p == nil {
		return counter.Request{}
	}
	return compilePlan(name, p).request(consumer)
}

func rate(rl *config.RateLimit) counter.Rate {
	return counter.Rate{Requests: int64(rl.Requests), Per: rl.Per.D(), Burst: int64(rl.Burst)}
}

func (l *limiter) serve(next pipeline.Handler, w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	var cons *pipeline.Consumer
	if x != nil {
		cons = x.Consumer
	}
	var req counter.Request
	if l.route != nil {
		tag, name := l.routeKey(r, x, cons)
		req.Add(counter.Bucket{Tag: tag, Name: name, Rate: *l.route})
	}
	var p *plan
	if cons != nil {
		if p = l.plans[cons.Plan]; p != nil {
			if p.limited {
				req.Add(counter.Bucket{Tag: cons.ID, Name: p.bucket, Rate: p.rate})
			}
			if p.quota.Limit > 0 {
				req.Quota = p.quota
				req.Quota.Tag = cons.ID
			}
		}
	}
	if req.N == 0 && req.Quota.Limit == 0 {
		return next.ServeHTTP(w, r)
	}

	d := l.counter.Take(r.Context(), req)
	if d.Degraded {
		// The counters are unreachable: on_failure allow lets the request
		// through without headers that would only be guesses.
		if d.Allowed {
			l.decided(Allowed)
			return next.ServeHTTP(w, r)
		}
		l.limited()
		l.decided(Limited)
		return refusal(pipeline.CodeRateLimited, l.unavailMsg, d.RetryAfter)
	}
	if req.N > 0 {
		setHeaders(w.Header(), &d, req.N)
	}
	if d.Allowed {
		l.decided(Allowed)
		return next.ServeHTTP(w, r)
	}
	l.limited()
	if d.Reason == counter.ReasonQuota {
		l.decided(QuotaExceeded)
		return refusal(pipeline.CodeQuotaExceeded, p.quotaMsg, d.RetryAfter)
	}
	l.decided(Limited)
	msg := l.rateMsg
	if l.route == nil || d.Bucket > 0 {
		msg = "rate limit of your plan exceeded"
	}
	return refusal(pipeline.CodeRateLimited, msg, d.RetryAfter)
}

func (l *limiter) decided(d Decision) {
	if l.onDecision != nil {
		l.onDecision(d)
	}
}

func (l *limiter) limited() {
	if l.onLimit != nil {
		l.onLimit()
	}
}

// routeKey returns the identity of the route bucket: the consumer, the
// header's value or the client's IP. Anonymous callers of a consumer-keyed
// route, and requests without the header, count by IP. The IP is the one
// the server trusts (server.trusted_proxies), never a client's claim.
func (l *limiter) routeKey(r *http.Request, x *pipeline.Exchange, cons *pipeline.Consumer) (tag, name string) {
	switch l.kind {
	case keyConsumer:
		if cons != nil {
			return cons.ID, l.nameKey
		}
	case keyHeader:
		if v := r.Header[l.header]; len(v) > 0 && v[0] != "" {
			return boundTag(v[0]), l.nameKey
		}
	}
	return clientIP(r, x), l.nameIP
}

// maxTag bounds the identities a client chooses (header values): longer
// ones are hashed, so a key stays small in memory and in Redis.
const maxTag = 64

func boundTag(v string) string {
	if len(v) <= maxTag {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func clientIP(r *http.Request, x *pipeline.Exchange) string {
	if x != nil && x.ClientIP != "" {
		return x.ClientIP
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// setHeaders reports the bucket with the least remaining, as the draft
// RateLimit header fields ask when several limits apply. The three values
// share one string and one slice: two allocations whatever the numbers.
func setHeaders(h http.Header, d *counter.Decision, n int) {
	s := d.Buckets[0]
	for i := 1; i < n; i++ {
		b := d.Buckets[i]
		if b.Remaining < s.Remaining || b.Remaining == s.Remaining && b.Reset > s.Reset {
			s = b
		}
	}
	var buf [64]byte
	b := strconv.AppendInt(buf[:0], s.Limit, 10)
	i := len(b)
	b = strconv.AppendInt(b, s.Remaining, 10)
	j := len(b)
	b = strconv.AppendInt(b, ceilSeconds(s.Reset), 10)
	all := string(b)
	v := make([]string, 3)
	v[0], v[1], v[2] = all[:i], all[i:j], all[j:]
	h["Ratelimit-Limit"] = v[0:1:1]
	h["Ratelimit-Remaining"] = v[1:2:2]
	h["Ratelimit-Reset"] = v[2:3:3]
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// refusal is the 429 the server renders, with Retry-After in whole
// seconds, at least 1.
func refusal(code, msg string, retry time.Duration) error {
	return &pipeline.HTTPError{
		Status:  http.StatusTooManyRequests,
		Code:    code,
		Message: msg,
		Header:  http.Header{"Retry-After": {strconv.FormatInt(max(1, ceilSeconds(retry)), 10)}},
	}
}
