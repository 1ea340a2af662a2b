package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream/balancer"
)

// ErrNoHealthyUpstream is returned by Pick when no target of the pool can
// take a request (the contract's 503 no_healthy_upstream).
var ErrNoHealthyUpstream = errors.New("no healthy upstream target")

// Pool is a named set of targets and the balancer that chooses among them,
// built for one config generation. Its targets' runtime state lives in the
// State it was built with. The target set changes only when DNS re-resolves
// a hostname target (see Start). Safe for concurrent use.
type Pool struct {
	Name string

	balancer string
	hashOn   string
	health   *config.HealthCheck
	passive  *config.Passive
	state    *State
	budget   *RetryBudget
	// metrics counts the upstream's retries; nil records nothing.
	metrics *telemetry.UpstreamMetrics
	// configured are the targets as the config lists them; hostname
	// targets among them are expanded by DNS into set.
	configured []*Target
	set        atomic.Pointer[targetSet]
}

// targetSet is the pool's current targets and the balancer over them.
type targetSet struct {
	targets []*Target
	picker  balancer.Picker
}

// NewPool builds the pool of upstream name from its configuration, binding
// its targets to st (nil: a private State, for tests and tools). It does no
// I/O and starts nothing; Start does, once the pool's generation is put in
// force. It fails on an upstream without targets, an invalid target URL,
// weight or balancer, and on lambda upstreams, which this version does not
// serve.
func NewPool(name string, cfg *config.Upstream, st *State) (*Pool, error) {
	if cfg == nil {
		return nil, fmt.Errorf("upstream %q: no configuration", name)
	}
	if cfg.Lambda != nil {
		return nil, errors.New("lambda upstreams are not supported yet")
	}
	if len(cfg.Targets) == 0 {
		return nil, errors.New("no targets: want at least one {url: http://host:port}")
	}
	if st == nil {
		st = NewState(StateOptions{})
	}
	p := &Pool{
		Name:     name,
		balancer: cfg.Balancer,
		hashOn:   cfg.HashOn,
		health:   cfg.HealthCheck,
		state:    st,
		budget:   st.budget(name),
	}
	if st.metrics != nil {
		p.metrics = st.metrics.Upstream(name)
	}
	if cfg.Passive != nil {
		ps := *cfg.Passive
		p.passive = &ps
		if p.passive.Failures < 1 {
			p.passive.Failures = 1
		}
	}
	var errs []error
	for i, tc := range cfg.Targets {
		if tc == nil {
			errs = append(errs, fmt.Errorf("targets[%d]: empty target", i))
			continue
		}
		t, err := newTarget(tc.URL, tc.Weight)
		if err != nil {
			errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
			continue
		}
		p.configured = append(p.configured, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Hostname targets start from the addresses an earlier generation
	// resolved, so a reload keeps their state.
	set, err := p.newSet(p.expand())
	if err != nil {
		return nil, err
	}
	p.set.Store(set)
	return p, nil
}

// newSet binds copies of targets to the pool and its State and builds the
// balancer over them.
func (p *Pool) newSet(targets []*Target) (*targetSet, error) {
	s := &targetSet{targets: make([]*Target, len(targets))}
	members := make([]balancer.Member, len(targets))
	for i, t := range targets {
		c := *t
		c.pool, c.index = p, i
		c.state = p.state.target(Key{p.Name, c.Name})
		s.targets[i] = &c
		members[i] = balancer.Member{Backend: &c, Weight: c.Weight, Key: c.Name}
	}
	var err error
	if s.picker, err = balancer.New(p.balancer, p.hashOn, members); err != nil {
		return nil, err
	}
	return s, nil
}

// Pick returns the target for the next attempt of r, never one of tried
// (the targets r's earlier attempts went to), or ErrNoHealthyUpstream when
// no healthy target is left. It does not allocate. r may be nil for
// balancers that do not read the request.
func (p *Pool) Pick(r *http.Request, tried []*Target) (*Target, error) {
	s := p.set.Load()
	var mask balancer.Tried
	for _, t := range tried {
		if t != nil && t.index < len(s.targets) && s.targets[t.index] == t {
			mask = mask.With(t.index)
		}
	}
	i := s.picker.Pick(r, mask)
	if i < 0 {
		return nil, ErrNoHealthyUpstream
	}
	return s.targets[i], nil
}

// Targets returns the pool's current targets. The slice must not be
// modified.
func (p *Pool) Targets() []*Target { return p.set.Load().targets }

// Balancer returns the balancer's name as configured.
func (p *Pool) Balancer() string { return p.balancer }

// HealthCheck returns the pool's active health check configuration, nil
// when it has none.
func (p *Pool) HealthCheck() *config.HealthCheck { return p.health }

// Budget returns the upstream's retry budget, shared by every route of the
// upstream and, through the State, by every generation: a reload neither
// refills nor resets it. Attempts deposits into it and withdraws from it;
// the accessor is for tests and tools that fill or drain it.
func (p *Pool) Budget() *RetryBudget { return p.budget }

// Keys returns the State keys the pool uses: its current targets' and its
// configured targets' (which hold the DNS addresses of hostname targets).
// The server passes them to State.Retain.
func (p *Pool) Keys() []Key {
	out := make([]Key, 0, len(p.configured)+len(p.Targets()))
	for _, t := range p.configured {
		out = append(out, Key{p.Name, t.Name})
	}
	for _, t := range p.Targets() {
		out = append(out, Key{p.Name, t.Name})
	}
	return out
}
