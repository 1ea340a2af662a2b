package upstream

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// maxWeight bounds a target's weight, so that the balancer's running sums
// cannot overflow.
const maxWeight = 1_000_000

// Target is one instance of an upstream, as one generation's pool knows it.
// Its runtime state (health, in-flight, latency) lives in the shared State
// and survives reloads; the Target itself is immutable.
type Target struct {
	// URL is the target as configured (scheme http, https or h2c), without
	// query or fragment. Do not modify it.
	URL *url.URL
	// Weight is the balancing weight, at least 1.
	Weight int
	// Name identifies the target in logs, metrics, the admin API and
	// Exchange.Target: the configured URL, or for an address found by DNS,
	// the URL with that address as its host.
	Name string
	// Scheme is the scheme spoken on the wire: "http" or "https". An h2c
	// target speaks "http" with H2C set.
	Scheme string
	// H2C is true for h2c:// targets: HTTP/2 with prior knowledge over
	// cleartext TCP.
	H2C bool
	// Host is the target's host[:port] as configured, sent as the
	// upstream's Host header.
	Host string
	// Addr is the host:port connected to: Host, or the address DNS resolved
	// Host's name to.
	Addr string
	// BasePath is the URL's path without its trailing slash ("" for none),
	// unescaped; it is prefixed to every forwarded path.
	BasePath string
	// RawBasePath is BasePath as escaped in the configured URL.
	RawBasePath string

	state *TargetState
	pool  *Pool
	// index is the target's position in its pool's target set.
	index int
}

// Healthy reports whether the target may be picked: healthy by the active
// checks and not ejected. Safe for concurrent use.
func (t *Target) Healthy() bool { return t.state.Available() }

// SetHealthy sets the active health verdict. Safe for concurrent use.
func (t *Target) SetHealthy(ok bool) { t.state.setHealthy(ok) }

// Available is Healthy, for the balancers.
func (t *Target) Available() bool { return t.state.Available() }

// InFlight returns how many attempts the target is serving.
func (t *Target) InFlight() int64 { return t.state.InFlight() }

// Cost returns the target's latency estimate in nanoseconds (0 unknown).
func (t *Target) Cost() float64 { return t.state.Cost() }

// Status returns the target's runtime state.
func (t *Target) Status() Status { return t.state.Status() }

// String returns t.Name.
func (t *Target) String() string { return t.Name }

// RecordProbe records one active health check result against the pool's
// unhealthy_after and healthy_after thresholds, and reports whether it
// changed the target's verdict. Called by the health checker.
func (t *Target) RecordProbe(ok bool) bool {
	unhealthyAfter, healthyAfter := 1, 1
	if t.pool != nil && t.pool.health != nil {
		unhealthyAfter = max(t.pool.health.UnhealthyAfter, 1)
		healthyAfter = max(t.pool.health.HealthyAfter, 1)
	}
	t.state.tm.HealthCheck(ok)
	return t.state.probe(ok, unhealthyAfter, healthyAfter)
}

// Outcome classifies one attempt for the target's state.
type Outcome uint8

const (
	// Success is an answer below 500.
	Success Outcome = iota
	// Failure is a 5xx answer or none at all (connect error, reset,
	// timeout). Consecutive failures eject the target when the upstream has
	// passive checks.
	Failure
	// Canceled means the client went away first, or its request failed on
	// the client's side (a malformed, cut or late body); it says nothing
	// about the target. Without an answer (status 0) the attempt is not
	// counted in gantry_upstream_requests_total either.
	Canceled
)

// Begin counts an attempt in flight on the target; every Begin must be
// followed by one Done.
func (t *Target) Begin() { t.state.inflight.Add(1) }

// Done ends what Begin started.
func (t *Target) Done() { t.state.inflight.Add(-1) }

// Report feeds one finished attempt back: its latency to the response
// header (or to the failure), the status the target answered (0 for none)
// and the outcome. It updates the latency estimate, passive ejection and
// gantry_upstream_requests_total. Safe for concurrent use.
func (t *Target) Report(rtt time.Duration, status int, o Outcome) {
	t.report(rtt, status, CauseUnknown, o, monoNow())
}

// report is Report with the cause of an attempt that got no answer (status
// 0), which labels it in gantry_upstream_requests_total, and the clock
// (monoNow) at the attempt's end.
func (t *Target) report(rtt time.Duration, status int, f Cause, o Outcome, now int64) {
	if o == Canceled {
		if status != 0 {
			t.state.tm.Observe(status)
		}
		return
	}
	if status == 0 {
		t.state.tm.Failed(f.Label())
	} else {
		t.state.tm.Observe(status)
	}
	if o == Failure {
		rtt = max(rtt, failurePenalty)
	}
	t.state.observe(rtt, now)
	if p := t.pool; p != nil && p.passive != nil {
		t.state.passive(o == Failure, p.passive.Failures, p.passive.EjectFor.D())
	}
}

// newTarget parses a target URL ("http://10.0.0.7:8080", "https://api.internal/base",
// "h2c://127.0.0.1:9000"). Weight 0 means the default, 1. The target has
// state of its own until a pool binds it to a State.
func newTarget(raw string, weight int) (*Target, error) {
	switch {
	case weight < 0:
		return nil, fmt.Errorf("weight %d: must not be negative", weight)
	case weight > maxWeight:
		return nil, fmt.Errorf("weight %d: must be at most %d", weight, maxWeight)
	case weight == 0:
		weight = 1
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid url %q: want http://host:port, optionally with a base path", raw)
	}
	t := &Target{URL: u, Weight: weight, Scheme: u.Scheme}
	switch u.Scheme {
	case "http", "https":
	case "h2c":
		t.Scheme, t.H2C = "http", true
	default:
		return nil, fmt.Errorf("invalid url %q: scheme must be http, https or h2c", raw)
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("invalid url %q: missing host, want %s://host:port", raw, u.Scheme)
	case u.User != nil:
		// Credentials in URLs end up in logs and metrics labels.
		return nil, fmt.Errorf("invalid url %q: credentials in the url are not supported", redact(u))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("invalid url %q: query and fragment are not allowed", raw)
	case u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		return nil, fmt.Errorf("invalid url %q: empty port", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("invalid url %q: missing host", raw)
	}
	t.Host = u.Host
	t.Addr = u.Host
	t.BasePath = strings.TrimRight(u.Path, "/")
	t.RawBasePath = strings.TrimRight(u.EscapedPath(), "/")
	t.Name = u.String()
	t.state = newTargetState(Key{Target: t.Name}, nil)
	return t, nil
}

// withAddr returns a copy of t that connects to addr (host:port) and is
// named by it.
func (t *Target) withAddr(addr string) *Target {
	c := *t
	c.Addr = addr
	u := *t.URL
	u.Host = addr
	c.Name = u.String()
	c.state = nil
	return &c
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
