package ratelimit

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// route is one route's middleware in front of an upstream that answers
// 200 and counts what reaches it.
type route struct {
	h        pipeline.Handler
	upstream atomic.Int64
	limited  atomic.Int64
	// decisions counts OnDecision calls by Decision.
	decisions [3]atomic.Int64
}

func newRoute(t *testing.T, c counter.Counter, name string, rl *config.RateLimit, plans map[string]*config.Plan) *route {
	t.Helper()
	rt := &route{}
	mw, err := New(Config{Counter: c, Route: name, Limit: rl, Plans: plans, OnLimited: func() { rt.limited.Add(1) },
		OnDecision: func(d Decision) { rt.decisions[d].Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	rt.h = mw(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rt.upstream.Add(1)
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	return rt
}

// call is one request as the server would pass it down the chain.
type call struct {
	ip       string
	consumer *pipeline.Consumer
	header   http.Header
}

// answer is what the client would see.
type answer struct {
	status int
	code   string
	msg    string
	header http.Header
}

// do runs c through the route and renders an error as the server does:
// its headers over those already set, its status and code.
func (rt *route) do(t *testing.T, c call) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	for k, v := range c.header {
		r.Header[k] = v
	}
	r.RemoteAddr = net.JoinHostPort(c.ip, "40000")
	x := &pipeline.Exchange{ClientIP: c.ip, Consumer: c.consumer}
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	w := httptest.NewRecorder()
	err := rt.h.ServeHTTP(w, r)
	if err == nil {
		return answer{status: w.Code, header: w.Header()}
	}
	var he *pipeline.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error %v, want an HTTPError", err)
	}
	h := w.Header()
	for k, v := range he.Header {
		h[k] = v
	}
	return answer{status: he.Status, code: he.Code, msg: he.Message, header: h}
}

func memory(t *testing.T, clock *fakeClock) counter.Counter {
	m := counter.NewMemory(counter.MemoryOptions{Now: clock.Now})
	t.Cleanup(func() { m.Close() })
	return m
}

func rl(requests int, per time.Duration, key string) *config.RateLimit {
	return &config.RateLimit{Requests: requests, Per: config.Duration(per), Burst: requests, Key: key}
}

var acme = &pipeline.Consumer{ID: "acme", Plan: "gold"}

// TestHeaders: every answer of a limited route carries the RateLimit
// fields; a refusal is 429 rate_limited with Retry-After and never reaches
// the upstream.
func TestHeaders(t *testing.T) {
	clock := &fakeClock{t: t0}
	rt := newRoute(t, memory(t, clock), "orders", rl(5, 10*time.Second, "ip"), nil)
	want := []struct {
		status                  int
		limit, remaining, reset string
		retryAfter              string
	}{
		{200, "5", "4", "0", ""},
		{200, "5", "3", "0", ""},
		{200, "5", "2", "0", ""},
		{200, "5", "1", "0", ""},
		{200, "5", "0", "2", ""},
		{429, "5", "0", "2", "2"},
	}
	for i, w := range want {
		a := rt.do(t, call{ip: "192.0.2.10"})
		got := []string{a.header.Get("RateLimit-Limit"), a.header.Get("RateLimit-Remaining"), a.header.Get("RateLimit-Reset"), a.header.Get("Retry-After")}
		if a.status != w.status || got[0] != w.limit || got[1] != w.remaining || got[2] != w.reset || got[3] != w.retryAfter {
			t.Fatalf("request %d: %d %v, want %d [%s %s %s %s]", i, a.status, got, w.status, w.limit, w.remaining, w.reset, w.retryAfter)
		}
	}
	// Half a second later the token is 1.5 s away: both round up to 2.
	clock.Add(500 * time.Millisecond)
	a := rt.do(t, call{ip: "192.0.2.10"})
	if a.code != pipeline.CodeRateLimited || a.header.Get("Retry-After") != "2" || a.header.Get("RateLimit-Reset") != "2" {
		t.Fatalf("answer %+v, want rate_limited with Retry-After 2", a)
	}
	if !strings.Contains(a.msg, "5 requests per 10s") {
		t.Errorf("message %q does not name the limit", a.msg)
	}
	if rt.upstream.Load() != 5 || rt.limited.Load() != 2 {
		t.Fatalf("upstream saw %d, OnLimited called %d times; want 5 and 2", rt.upstream.Load(), rt.limited.Load())
	}
}

// TestPlanAndRoute: the plan's limit and the route's both apply and the
// stricter wins; the plan's bucket is the consumer's across routes.
func TestPlanAndRoute(t *testing.T) {
	tests := []struct {
		name      string
		plan      *config.RateLimit
		route     *config.RateLimit
		want      []int
		wantLimit string // RateLimit-Limit of the last answer
		wantMsg   string
	}{
		{"route stricter", rl(100, time.Second, ""), rl(2, time.Hour, "consumer"), []int{200, 200, 429}, "2", "2 requests per 1h"},
		{"plan stricter", rl(2, time.Hour, ""), rl(100, time.Second, "consumer"), []int{200, 200, 429}, "2", "plan"},
		{"plan only", rl(3, time.Hour, ""), nil, []int{200, 200, 200, 429}, "3", "plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			plans := map[string]*config.Plan{"gold": {RateLimit: tt.plan}}
			rt := newRoute(t, memory(t, clock), "orders", tt.route, plans)
			var a answer
			for i, want := range tt.want {
				if a = rt.do(t, call{ip: "192.0.2.20", consumer: acme}); a.status != want {
					t.Fatalf("request %d: %d, want %d", i, a.status, want)
				}
			}
			if a.header.Get("RateLimit-Limit") != tt.wantLimit || a.header.Get("RateLimit-Remaining") != "0" {
				t.Errorf("headers report limit %s remaining %s, want %s and 0", a.header.Get("RateLimit-Limit"), a.header.Get("RateLimit-Remaining"), tt.wantLimit)
			}
			if !strings.Contains(a.msg, tt.wantMsg) {
				t.Errorf("message %q, want it to mention %q", a.msg, tt.wantMsg)
			}
		})
	}

	t.Run("plan bucket shared by routes", func(t *testing.T) {
		c := memory(t, &fakeClock{t: t0})
		plans := map[string]*config.Plan{"gold": {RateLimit: rl(3, time.Hour, "")}}
		orders := newRoute(t, c, "orders", nil, plans)
		users := newRoute(t, c, "users", rl(10, time.Hour, "consumer"), plans)
		for i, rt := range []*route{orders, users, orders} {
			if s := rt.do(t, call{ip: "192.0.2.21", consumer: acme}).status; s != 200 {
				t.Fatalf("request %d: %d, want 200", i, s)
			}
		}
		if s := users.do(t, call{ip: "192.0.2.21", consumer: acme}).status; s != 429 {
			t.Fatalf("fourth request: %d, want 429 (the plan allows 3 across routes)", s)
		}
		if s := users.do(t, call{ip: "192.0.2.21", consumer: &pipeline.Consumer{ID: "globex", Plan: "gold"}}).status; s != 200 {
			t.Fatalf("another consumer: %d, want 200", s)
		}
	})
}

// TestQuota: a used-up quota answers quota_exceeded with Retry-After to
// the end of the UTC period; refused requests are not counted.
func TestQuota(t *testing.T) {
	clock := &fakeClock{t: t0}
	plans := map[string]*config.Plan{"gold": {Quota: &config.Quota{Requests: 3, Per: "day"}}}
	c := memory(t, clock)
	rt := newRoute(t, c, "orders", rl(2, time.Minute, "consumer"), plans)
	statuses := []int{}
	for range 3 {
		statuses = append(statuses, rt.do(t, call{ip: "192.0.2.30", consumer: acme}).status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want [200 200 429] (route limit)", statuses)
	}
	clock.Add(time.Minute)
	if s := rt.do(t, call{ip: "192.0.2.30", consumer: acme}).status; s != 200 {
		t.Fatalf("third admitted request: %d, want 200 (the refused one did not count)", s)
	}
	a := rt.do(t, call{ip: "192.0.2.30", consumer: acme})
	if a.status != 429 || a.code != pipeline.CodeQuotaExceeded {
		t.Fatalf("answer %d %s, want 429 quota_exceeded", a.status, a.code)
	}
	toMidnight := strconv.Itoa(int(time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC).Sub(clock.Now()).Seconds()))
	if a.header.Get("Retry-After") != toMidnight {
		t.Fatalf("Retry-After %q, want %s (to midnight UTC)", a.header.Get("Retry-After"), toMidnight)
	}
	if a.msg != "quota of 3 requests per day is used up" {
		t.Errorf("message %q", a.msg)
	}
	if a.header.Get("RateLimit-Limit") != "2" {
		t.Errorf("RateLimit-Limit %q on a route with a limit, want 2", a.header.Get("RateLimit-Limit"))
	}

	// A plan with only a quota on a route without a limit: no RateLimit
	// fields, the quota still applies.
	quotaOnly := newRoute(t, c, "users", nil, plans)
	b := quotaOnly.do(t, call{ip: "192.0.2.30", consumer: acme})
	if b.status != 429 || b.code != pipeline.CodeQuotaExceeded || b.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("answer %d %s with RateLimit-Limit %q, want 429 quota_exceeded without it", b.status, b.code, b.header.Get("RateLimit-Limit"))
	}
	clock.Add(14 * time.Hour) // the next day
	if s := quotaOnly.do(t, call{ip: "192.0.2.30", consumer: acme}).status; s != 200 {
		t.Fatalf("next day: %d, want 200", s)
	}
}

// TestKeys: which requests share a route bucket.
func TestKeys(t *testing.T) {
	spoof := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	tenant := func(v string) http.Header { return http.Header{"X-Tenant": {v}} }
	long := strings.Repeat("t", 100)
	tests := []struct {
		name  string
		key   string
		calls []call
		want  []int
	}{
		{
			name: "ip ignores a spoofed X-Forwarded-For",
			key:  "ip",
			calls: []call{
				{ip: "198.51.100.1", header: spoof("10.0.0.1")},
				{ip: "198.51.100.1", header: spoof("10.0.0.2")},
				{ip: "198.51.100.1", header: spoof("10.0.0.3")},
				{ip: "198.51.100.2", header: spoof("198.51.100.1")},
			},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "ip ignores the consumer",
			key:  "ip",
			calls: []call{
				{ip: "198.51.100.3", consumer: acme},
				{ip: "198.51.100.3", consumer: &pipeline.Consumer{ID: "globex"}},
				{ip: "198.51.100.3"},
			},
			want: []int{200, 200, 429},
		},
		{
			name: "consumer across addresses",
			key:  "consumer",
			calls: []call{
				{ip: "198.51.100.4", consumer: acme},
				{ip: "198.51.100.5", consumer: acme},
				{ip: "198.51.100.6", consumer: acme},
				{ip: "198.51.100.6", consumer: &pipeline.Consumer{ID: "globex"}},
			},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "anonymous callers of a consumer-keyed route count by IP",
			key:  "consumer",
			calls: []call{
				{ip: "198.51.100.7"},
				{ip: "198.51.100.7"},
				{ip: "198.51.100.7"},
				{ip: "198.51.100.8"},
				// A consumer whose ID looks like that IP is still its own.
				{ip: "198.51.100.9", consumer: &pipeline.Consumer{ID: "198.51.100.7"}},
			},
			want: []int{200, 200, 429, 200, 200},
		},
		{
			name: "header value",
			key:  "header:x-tenant",
			calls: []call{
				{ip: "198.51.100.10", header: tenant("initech")},
				{ip: "198.51.100.11", header: tenant("initech")},
				{ip: "198.51.100.12", header: tenant("initech")},
				{ip: "198.51.100.12", header: tenant("hooli")},
			},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "missing header counts by IP",
			key:  "header:X-Tenant",
			calls: []call{
				{ip: "198.51.100.13"},
				{ip: "198.51.100.13", header: tenant("")},
				{ip: "198.51.100.13"},
				{ip: "198.51.100.14"},
				{ip: "198.51.100.13", header: tenant("198.51.100.13")},
			},
			want: []int{200, 200, 429, 200, 200},
		},
		{
			name: "long header values are hashed, not truncated",
			key:  "header:X-Tenant",
			calls: []call{
				{ip: "198.51.100.15", header: tenant(long + "a")},
				{ip: "198.51.100.15", header: tenant(long + "a")},
				{ip: "198.51.100.15", header: tenant(long + "a")},
				{ip: "198.51.100.15", header: tenant(long + "b")},
			},
			want: []int{200, 200, 429, 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRoute(t, memory(t, &fakeClock{t: t0}), "orders", rl(2, time.Hour, tt.key), nil)
			for i, c := range tt.calls {
				if s := rt.do(t, c).status; s != tt.want[i] {
					t.Fatalf("request %d: %d, want %d", i, s, tt.want[i])
				}
			}
		})
	}
}

// deadRedis returns a Redis counter at an address where nothing listens.
func deadRedis(t *testing.T, mode counter.FailureMode) counter.Counter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := counter.NewRedis(counter.RedisOptions{URL: "redis://" + addr, OnFailure: mode, ProbeMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCountersUnavailable: with Redis down, deny answers 429 saying so,
// with Retry-After 1; allow lets requests through; neither sends
// RateLimit fields.
func TestCountersUnavailable(t *testing.T) {
	t.Run("deny", func(t *testing.T) {
		rt := newRoute(t, deadRedis(t, counter.FailDeny), "orders", rl(5, time.Second, "ip"), nil)
		a := rt.do(t, call{ip: "192.0.2.40"})
		if a.status != 429 || a.code != pipeline.CodeRateLimited || a.header.Get("Retry-After") != "1" || !strings.Contains(a.msg, "unavailable") {
			t.Fatalf("answer %+v, want 429 rate_limited, Retry-After 1, a message saying the counters are unavailable", a)
		}
		if a.header.Get("RateLimit-Limit") != "" || rt.limited.Load() != 1 {
			t.Fatalf("RateLimit-Limit %q, OnLimited %d; want none and 1", a.header.Get("RateLimit-Limit"), rt.limited.Load())
		}
	})
	t.Run("allow", func(t *testing.T) {
		rt := newRoute(t, deadRedis(t, counter.FailAllow), "orders", rl(1, time.Hour, "ip"), nil)
		for i := range 3 {
			a := rt.do(t, call{ip: "192.0.2.41"})
			if a.status != 200 || a.header.Get("RateLimit-Limit") != "" {
				t.Fatalf("request %d: %d with RateLimit-Limit %q, want 200 without it", i, a.status, a.header.Get("RateLimit-Limit"))
			}
		}
	})
}

// TestUnlimited: a route without a limit, for a caller without a limited
// plan, is not counted.
func TestUnlimited(t *testing.T) {
	m := counter.NewMemory(counter.MemoryOptions{})
	defer m.Close()
	plans := map[string]*config.Plan{"gold": {RateLimit: rl(1, time.Hour, "")}, "free": {}}
	rt := newRoute(t, m, "orders", nil, plans)
	for _, c := range []call{{ip: "192.0.2.50"}, {ip: "192.0.2.50", consumer: &pipeline.Consumer{ID: "globex", Plan: "free"}}, {ip: "192.0.2.50", consumer: &pipeline.Consumer{ID: "initech", Plan: "unknown"}}} {
		for range 3 {
			if a := rt.do(t, c); a.status != 200 || a.header.Get("RateLimit-Limit") != "" {
				t.Fatalf("%+v: %d with RateLimit-Limit %q, want 200 without it", c, a.status, a.header.Get("RateLimit-Limit"))
			}
		}
	}
	if b, q := m.Len(); b != 0 || q != 0 {
		t.Fatalf("%d buckets and %d quotas counted, want none", b, q)
	}
}

func TestValidate(t *testing.T) {
	m := counter.NewMemory(counter.MemoryOptions{})
	defer m.Close()
	tests := []struct {
		name string
		c    Config
		want string // "" when valid
	}{
		{"valid", Config{Counter: m, Limit: rl(5, time.Second, "header:X-Tenant"), Plans: map[string]*config.Plan{"gold": {Quota: &config.Quota{Requests: 5, Per: "month"}}, "empty": nil}}, ""},
		{"no counter", Config{Limit: rl(5, time.Second, "ip")}, "no counter"},
		{"zero requests", Config{Counter: m, Limit: &config.RateLimit{Per: config.Duration(time.Second), Burst: 1, Key: "ip"}}, "rate_limit.requests"},
		{"zero per", Config{Counter: m, Limit: &config.RateLimit{Requests: 1, Burst: 1, Key: "ip"}}, "rate_limit.per"},
		{"zero burst", Config{Counter: m, Limit: &config.RateLimit{Requests: 1, Per: config.Duration(time.Second), Key: "ip"}}, "rate_limit.burst"},
		{"bad key", Config{Counter: m, Limit: rl(1, time.Second, "path")}, "rate_limit.key"},
		{"bad header", Config{Counter: m, Limit: rl(1, time.Second, "header:X Tenant")}, "rate_limit.key"},
		{"empty header", Config{Counter: m, Limit: rl(1, time.Second, "header:")}, "rate_limit.key"},
		{"plan rate", Config{Counter: m, Plans: map[string]*config.Plan{"gold": {RateLimit: rl(0, time.Second, "")}}}, "plans.gold.rate_limit.requests"},
		{"quota period", Config{Counter: m, Plans: map[string]*config.Plan{"gold": {Quota: &config.Quota{Requests: 5, Per: "week"}}}}, "plans.gold.quota.per"},
		{"quota requests", Config{Counter: m, Plans: map[string]*config.Plan{"gold": {Quota: &config.Quota{Per: "day"}}}}, "plans.gold.quota.requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(tt.c); err != nil {
					t.Fatalf("New() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error about %s", err, tt.want)
			}
			if _, err := New(tt.c); err == nil {
				t.Fatal("New() accepted an invalid config")
			}
		})
	}
}

// TestDecisions: every request a limit or quota applies to is one decision,
// allowed, limited or quota_exceeded; one no limit applies to is none.
func TestDecisions(t *testing.T) {
	clock := &fakeClock{t: t0}
	plans := map[string]*config.Plan{"gold": {Quota: &config.Quota{Requests: 3, Per: "day"}}}
	c := memory(t, clock)
	rt := newRoute(t, c, "orders", rl(2, time.Minute, "consumer"), plans)
	for range 3 { // 2 allowed, 1 limited by the route
		rt.do(t, call{ip: "192.0.2.30", consumer: acme})
	}
	clock.Add(time.Minute)
	rt.do(t, call{ip: "192.0.2.30", consumer: acme}) // allowed: the third of the quota
	rt.do(t, call{ip: "192.0.2.30", consumer: acme}) // quota exceeded
	want := [3]int64{Allowed: 3, Limited: 1, QuotaExceeded: 1}
	for d, w := range want {
		if got := rt.decisions[d].Load(); got != w {
			t.Errorf("decision %d counted %d times, want %d", d, got, w)
		}
	}

	free := newRoute(t, c, "users", nil, plans)
	free.do(t, call{ip: "192.0.2.31"})
	for d := range free.decisions {
		if n := free.decisions[d].Load(); n != 0 {
			t.Errorf("unlimited request made decision %d (%d times), want none", d, n)
		}
	}
}
