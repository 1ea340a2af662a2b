package upstream

import (
	"context"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/telemetry"
)

// Key identifies a target's runtime state: the upstream's name and the
// target's Name (its URL, or the resolved address's URL).
type Key struct{ Upstream, Target string }

// Resolver looks up the addresses of a target's hostname; *net.Resolver is
// one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// StateOptions configure a State.
type StateOptions struct {
	// Metrics receives gantry_upstream_healthy and
	// gantry_upstream_requests_total; nil records nothing.
	Metrics *telemetry.Metrics
	// Resolver re-resolves hostname targets. Default net.DefaultResolver.
	Resolver Resolver
	// ResolveEvery is how often hostname targets are re-resolved. Default 30s.
	ResolveEvery time.Duration
}

// defaultResolveEvery is how often hostname targets are re-resolved.
const defaultResolveEvery = 30 * time.Second

// State is the runtime state of every target of every upstream (health,
// passive ejection, in-flight count and latency) and every upstream's retry
// budget. The server owns one State for the process and hands it to every
// generation's pools, so that a reload does not reset what is known about a
// target (Caddy keeps its upstream hosts the same way) and cannot refill a
// budget an outage has spent. Targets and upstreams a reload removes are
// forgotten by Retain. Safe for concurrent use.
type State struct {
	metrics      *telemetry.Metrics
	resolver     Resolver
	resolveEvery time.Duration

	mu sync.Mutex
	m  map[Key]*TargetState
	// budgets are the retry budgets, keyed by upstream name.
	budgets map[string]*RetryBudget
	// addrs are the last addresses DNS gave for hostname targets, keyed
	// by the configured target.
	addrs map[Key][]string
}

// NewState returns an empty State.
func NewState(o StateOptions) *State {
	s := &State{metrics: o.Metrics, resolver: o.Resolver, resolveEvery: o.ResolveEvery, m: make(map[Key]*TargetState), budgets: make(map[string]*RetryBudget), addrs: make(map[Key][]string)}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if s.resolveEvery <= 0 {
		s.resolveEvery = defaultResolveEvery
	}
	return s
}

// target returns the state of k, creating it on first use.
func (s *State) target(k Key) *TargetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts, ok := s.m[k]; ok {
		return ts
	}
	ts := newTargetState(k, s.metrics)
	s.m[k] = ts
	return ts
}

// budget returns the retry budget of upstream name, creating it on first
// use. Every generation's pool of the upstream gets the same one.
func (s *State) budget(name string) *RetryBudget {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.budgets[name]; ok {
		return b
	}
	b := newRetryBudget(nil)
	s.budgets[name] = b
	return b
}

// Retain forgets the state of every target not in keep, and removes its
// gantry_upstream_healthy series; it also drops the retry budget of every
// upstream none of keep belongs to. The server calls it when a generation
// is put in force, with that generation's targets, so that removed targets
// and upstreams do not accumulate over reloads. It returns how many targets
// were forgotten.
func (s *State) Retain(keep []Key) int {
	set := make(map[Key]struct{}, len(keep))
	ups := make(map[string]struct{})
	for _, k := range keep {
		set[k] = struct{}{}
		ups[k.Upstream] = struct{}{}
	}
	s.mu.Lock()
	for name := range s.budgets {
		if _, ok := ups[name]; !ok {
			delete(s.budgets, name)
		}
	}
	var gone []*TargetState
	for k, ts := range s.m {
		if _, ok := set[k]; !ok {
			delete(s.m, k)
			gone = append(gone, ts)
		}
	}
	for k := range s.addrs {
		if _, ok := set[k]; !ok {
			delete(s.addrs, k)
		}
	}
	s.mu.Unlock()
	for _, ts := range gone {
		ts.forget()
	}
	return len(gone)
}

// drop forgets one target, for an address DNS no longer returns.
func (s *State) drop(k Key) {
	s.mu.Lock()
	ts, ok := s.m[k]
	delete(s.m, k)
	s.mu.Unlock()
	if ok {
		ts.forget()
	}
}

func (s *State) setAddrs(k Key, addrs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[k] = addrs
}

func (s *State) addrsOf(k Key) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[k]
}

// Len returns how many targets the State knows.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// decay is the time constant of the latency estimate: an observation's
// weight falls to 1/e after Decay (a half-life of about 7s), the 10s that
// Finagle's and Linkerd's peak EWMA use.
const decay = 10 * time.Second

// failurePenalty is the latency a failed attempt counts as, so that a target
// that fails fast (connection refused) does not look like the fastest one to
// p2c_ewma.
const failurePenalty = time.Second

// epoch anchors the monotonic clock of the latency estimate.
var epoch = time.Now()

func monoNow() int64 { return int64(time.Since(epoch)) }

// TargetState is the runtime state of one target. Safe for concurrent use.
type TargetState struct {
	key     Key
	metrics *telemetry.Metrics
	tm      *telemetry.TargetMetrics

	inflight atomic.Int64
	// down is the active checks' verdict; the zero value is healthy so a
	// new target takes traffic until a checker says otherwise.
	down atomic.Bool
	// ejectedUntil is the Unix time in nanoseconds passive ejection ends; 0
	// when not ejected.
	ejectedUntil atomic.Int64
	failures     atomic.Int32
	// cost (float64 bits, nanoseconds) and stamp (monoNow of the last
	// update) are the peak EWMA; written under mu, read lock-free.
	cost  atomic.Uint64
	stamp atomic.Int64

	mu                 sync.Mutex
	probeOK, probeFail int
	published          int8 // -1 unknown, 0 unhealthy, 1 healthy
	gone               bool
}

func newTargetState(k Key, m *telemetry.Metrics) *TargetState {
	ts := &TargetState{key: k, metrics: m, published: -1}
	if m != nil {
		ts.tm = m.Target(k.Upstream, k.Target)
	}
	return ts
}

// Available reports whether the target may take requests: healthy by the
// active checks and not ejected.
func (ts *TargetState) Available() bool {
	if ts.down.Load() {
		return false
	}
	until := ts.ejectedUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// InFlight returns the attempts being served by the target.
func (ts *TargetState) InFlight() int64 { return ts.inflight.Load() }

// Cost returns the peak-EWMA latency in nanoseconds, decayed to now so that
// a target that got no traffic for a while is tried again.
func (ts *TargetState) Cost() float64 {
	c := math.Float64frombits(ts.cost.Load())
	if c == 0 {
		return 0
	}
	td := monoNow() - ts.stamp.Load()
	if td <= 0 {
		return c
	}
	return c * math.Exp(-float64(td)/float64(decay))
}

// observe adds one latency sample. Peak EWMA (Finagle's PeakEwma,
// Linkerd's PeakEwma): a sample above the estimate replaces it at once, so
// a target that slows down is avoided immediately; lower samples pull it
// down with weight 1-exp(-elapsed/Decay), a time-based rather than a
// per-sample average, so a busy target does not forget faster than an idle
// one. now is the clock (monoNow) when the attempt ended: the caller's
// reading, one less per request. Two attempts may observe in the other
// order than their readings: the later one then counts no elapsed time,
// and the stamp never moves back.
func (ts *TargetState) observe(rtt time.Duration, now int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	c := math.Float64frombits(ts.cost.Load())
	stamp := ts.stamp.Load()
	td := max(now-stamp, 0)
	w := math.Exp(-float64(td) / float64(decay))
	if r := float64(rtt); r > c {
		c = r
	} else {
		c = c*w + r*(1-w)
	}
	ts.cost.Store(math.Float64bits(c))
	ts.stamp.Store(max(now, stamp))
}

// probe records one active health check result and reports whether it
// changed the verdict.
func (ts *TargetState) probe(ok bool, unhealthyAfter, healthyAfter int) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ok {
		ts.probeFail = 0
		ts.probeOK++
		if ts.down.Load() && ts.probeOK >= healthyAfter {
			ts.down.Store(false)
			ts.publishLocked()
			return true
		}
		return false
	}
	ts.probeOK = 0
	ts.probeFail++
	if !ts.down.Load() && ts.probeFail >= unhealthyAfter {
		ts.down.Store(true)
		ts.publishLocked()
		return true
	}
	return false
}

// setHealthy sets the active verdict directly.
func (ts *TargetState) setHealthy(ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.probeOK, ts.probeFail = 0, 0
	ts.down.Store(!ok)
	ts.publishLocked()
}

// passive records one attempt's result for passive ejection: failures
// consecutive failures eject the target for ejectFor.
func (ts *TargetState) passive(failed bool, failures int, ejectFor time.Duration) {
	if !failed {
		if ts.failures.Load() != 0 {
			ts.failures.Store(0)
		}
		return
	}
	if int(ts.failures.Add(1)) < failures {
		return
	}
	ts.failures.Store(0)
	ts.tm.Ejected()
	ts.eject(ejectFor)
}

func (ts *TargetState) eject(d time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	until := time.Now().Add(d).UnixNano()
	ts.ejectedUntil.Store(until)
	ts.publishLocked()
	// The target comes back on its own; the timer only clears the mark and
	// the gauge (Available already compares the time).
	time.AfterFunc(d, func() {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if ts.ejectedUntil.CompareAndSwap(until, 0) {
			ts.publishLocked()
		}
	})
}

// publish sets the target's gantry_upstream_healthy to its current state;
// called when a generation using it is put in force.
func (ts *TargetState) publish() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.published = -1
	ts.publishLocked()
}

func (ts *TargetState) publishLocked() {
	if ts.metrics == nil || ts.gone {
		return
	}
	healthy := !ts.down.Load() && ts.ejectedUntil.Load() == 0
	v := int8(0)
	if healthy {
		v = 1
	}
	if v != ts.published {
		ts.published = v
		ts.metrics.SetUpstreamHealthy(ts.key.Upstream, ts.key.Target, healthy)
	}
}

func (ts *TargetState) forget() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.gone = true
	if ts.metrics != nil {
		ts.metrics.DeleteUpstreamTarget(ts.key.Upstream, ts.key.Target)
	}
}

// Status is a target's state as the admin API shows it.
type Status struct {
	// State is "healthy", "unhealthy" (failed active checks) or "ejected"
	// (passive ejection).
	State string
	// EjectedUntil is when an ejection ends; zero when not ejected.
	EjectedUntil time.Time
	InFlight     int64
	// EWMA is the latency estimate (peak EWMA, decayed to now).
	EWMA time.Duration
}

// Status returns the target's state.
func (ts *TargetState) Status() Status {
	st := Status{State: "healthy", InFlight: ts.inflight.Load(), EWMA: time.Duration(ts.Cost())}
	if until := ts.ejectedUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		st.State, st.EjectedUntil = "ejected", time.Unix(0, until).UTC()
	}
	if ts.down.Load() {
		st.State = "unhealthy"
	}
	return st
}
