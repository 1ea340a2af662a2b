package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/config"
)

// ErrNoHealthyUpstream is returned by Pick when no target of the pool can
// take a request (the contract's 503 no_healthy_upstream).
var ErrNoHealthyUpstream = errors.New("no healthy upstream target")

// MaxWeight bounds a target's weight, so that the balancer's running sums
// cannot overflow.
const MaxWeight = 1_000_000

// Target is one instance of an upstream.
type Target struct {
	// URL is the target as configured (scheme http, https or h2c), without
	// query or fragment. Do not modify it.
	URL *url.URL
	// Weight is the round-robin weight, at least 1.
	Weight int
	// Name is the URL as a string, for logs, metrics and Exchange.Target.
	Name string
	// Scheme is the scheme spoken on the wire: "http" or "https". An h2c
	// target speaks "http" with H2C set.
	Scheme string
	// H2C is true for h2c:// targets: HTTP/2 with prior knowledge over
	// cleartext TCP.
	H2C bool
	// Host is the target's host[:port], sent as the upstream's Host header.
	Host string
	// BasePath is the URL's path without its trailing slash ("" for none),
	// unescaped; it is prefixed to every forwarded path.
	BasePath string
	// RawBasePath is BasePath as escaped in the configured URL.
	RawBasePath string

	// down is the health state; the zero value is healthy so a new target
	// takes traffic until a checker says otherwise.
	down atomic.Bool
}

// Healthy reports whether the target may be picked. Safe for concurrent use.
func (t *Target) Healthy() bool { return !t.down.Load() }

// SetHealthy marks the target healthy or not. Safe for concurrent use.
func (t *Target) SetHealthy(ok bool) { t.down.Store(!ok) }

// String returns t.Name.
func (t *Target) String() string { return t.Name }

// Picker chooses the target for one attempt. Implementations must be safe for
// concurrent use, must skip unhealthy targets and return ErrNoHealthyUpstream
// when none is left, and should not allocate.
type Picker interface {
	Pick(r *http.Request) (*Target, error)
}

// Pool is a named set of targets and the balancer that chooses among them.
// A Pool is immutable after NewPool and safe for concurrent use.
type Pool struct {
	Name    string
	Targets []*Target
	picker  Picker
}

// Pick returns the target for the next attempt of r, or ErrNoHealthyUpstream.
func (p *Pool) Pick(r *http.Request) (*Target, error) { return p.picker.Pick(r) }

// NewPool builds the pool of upstream name from its configuration. It fails
// on an upstream without targets, an invalid target URL or weight, and on
// features this version does not implement yet, so that a config using them
// is refused rather than served without them.
func NewPool(name string, cfg *config.Upstream) (*Pool, error) {
	if cfg == nil {
		return nil, fmt.Errorf("upstream %q: no configuration", name)
	}
	if cfg.Lambda != nil {
		return nil, errors.New("lambda upstreams are not supported yet")
	}
	switch cfg.Balancer {
	case "", "round_robin":
	case "least_conn", "p2c_ewma", "hash":
		return nil, fmt.Errorf("balancer %q is not supported yet; use round_robin", cfg.Balancer)
	default:
		return nil, fmt.Errorf("unknown balancer %q: want round_robin, least_conn, p2c_ewma or hash", cfg.Balancer)
	}
	if cfg.HealthCheck != nil {
		return nil, errors.New("health_check is not supported yet")
	}
	if cfg.Passive != nil {
		return nil, errors.New("passive is not supported yet")
	}
	if len(cfg.Targets) == 0 {
		return nil, errors.New("no targets: want at least one {url: http://host:port}")
	}
	p := &Pool{Name: name, Targets: make([]*Target, 0, len(cfg.Targets))}
	var errs []error
	for i, tc := range cfg.Targets {
		if tc == nil {
			errs = append(errs, fmt.Errorf("targets[%d]: empty target", i))
			continue
		}
		t, err := NewTarget(tc.URL, tc.Weight)
		if err != nil {
			errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
			continue
		}
		p.Targets = append(p.Targets, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.picker = newRoundRobin(p.Targets)
	return p, nil
}

// NewTarget parses a target URL ("http://10.0.0.7:8080", "https://api.internal/base",
// "h2c://127.0.0.1:9000"). Weight 0 means the default, 1.
func NewTarget(raw string, weight int) (*Target, error) {
	switch {
	case weight < 0:
		return nil, fmt.Errorf("weight %d: must not be negative", weight)
	case weight > MaxWeight:
		return nil, fmt.Errorf("weight %d: must be at most %d", weight, MaxWeight)
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
	t.BasePath = strings.TrimRight(u.Path, "/")
	t.RawBasePath = strings.TrimRight(u.EscapedPath(), "/")
	t.Name = u.String()
	return t, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
