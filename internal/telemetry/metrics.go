package telemetry

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationBuckets are the bounds, in seconds, of the request duration
// histogram: from half a millisecond (a cached or rejected request) to ten
// seconds (a slow upstream).
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is the gateway's set of Prometheus metrics on a private registry.
// It is safe for concurrent use. The zero value is not usable; call
// NewMetrics.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	upstreamHealthy *prometheus.GaugeVec
	upstreamReqs    *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	reloadSuccess   prometheus.Gauge
	generation      prometheus.Gauge
	accessDropped   prometheus.Counter

	// inFlight is exported through a GaugeFunc: one atomic add per request
	// is cheaper than a float gauge's compare-and-swap loop under contention.
	inFlight atomic.Int64

	mu        sync.Mutex
	routes    map[string]*RouteMetrics
	targets   map[targetKey]*TargetMetrics
	unmatched *RouteMetrics
}

type targetKey struct{ upstream, target string }

// NewMetrics registers the gateway's metrics, and the Go runtime and process
// collectors, on a new private registry. It never touches Prometheus's global
// default registry, so several instances (tests, embedded servers) coexist.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_requests_total",
			Help: "Requests answered by the gateway, by route, method and status. route is empty when no route matched.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its answer, by route.",
			Buckets: DurationBuckets,
		}, []string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_rate_limited_total",
			Help: "Requests refused by a rate limit, by route.",
		}, []string{"route"}),
		upstreamHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_upstream_healthy",
			Help: "Whether an upstream target takes traffic (1) or not (0).",
		}, []string{"upstream", "target"}),
		upstreamReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_upstream_requests_total",
			Help: "Attempts sent to upstream targets, by the status they answered (0 when none).",
		}, []string{"upstream", "target", "status"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_config_reloads_total",
			Help: "Configuration reloads, by result (success or failure).",
		}, []string{"result"}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last configuration successfully put in force.",
		}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_config_generation",
			Help: "Sequence number of the configuration generation in force.",
		}),
		accessDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_access_log_dropped_total",
			Help: "Access log lines dropped because the writer could not keep up.",
		}),
		routes:  make(map[string]*RouteMetrics),
		targets: make(map[targetKey]*TargetMetrics),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gantry_requests_in_flight",
		Help: "Requests being served.",
	}, func() float64 { return float64(m.inFlight.Load()) })

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.rateLimited, inFlight,
		m.upstreamHealthy, m.upstreamReqs,
		m.reloads, m.reloadSuccess, m.generation,
		m.accessDropped,
	)
	// Both results exist from the start so rate() and alerts see a zero.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.unmatched = m.Route("")
	return m
}

// Handler serves the registry in Prometheus's text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry returns the private registry, for packages that export metrics
// of their own (usage metering, counters). Their names should start with
// "gantry_".
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RouteMetrics is the cached metrics handle of one route. It is safe for
// concurrent use and outlives config generations: Metrics.Route returns the
// same handle for the same name after a reload.
type RouteMetrics struct {
	name     string
	duration prometheus.Observer
	requests *counterTable

	rlVec       *prometheus.CounterVec
	rateLimited atomic.Pointer[prometheus.Counter]
}

// Route returns the handle of the named route, creating it on first use.
// Call it when a config generation is compiled, not per request. The name
// "" is the handle of requests that match no route.
//
// A route dropped by a reload keeps its series: counters are cumulative, and
// a route that comes back under the same name continues them.
func (m *Metrics) Route(name string) *RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm, ok := m.routes[name]; ok {
		return rm
	}
	rm := &RouteMetrics{
		name:     name,
		duration: m.duration.WithLabelValues(name),
		requests: newCounterTable(m.requests, true, name),
		rlVec:    m.rateLimited,
	}
	m.routes[name] = rm
	return rm
}

// Observe records one finished request: its method (see MethodLabel), the
// status sent to the client and its duration. After a (method, status) pair
// has been seen once it performs no map lookup and no allocation. A nil
// handle records nothing.
func (rm *RouteMetrics) Observe(method string, status int, d time.Duration) {
	if rm == nil {
		return
	}
	rm.requests.counter(methodIndex(method), status).Inc()
	rm.duration.Observe(d.Seconds())
}

// RateLimited counts one request of this route refused by a rate limit. Its
// series appears on first use, so routes without limits add none.
func (rm *RouteMetrics) RateLimited() {
	if rm == nil {
		return
	}
	c := rm.rateLimited.Load()
	if c == nil {
		nc := rm.rlVec.WithLabelValues(rm.name)
		rm.rateLimited.CompareAndSwap(nil, &nc)
		c = rm.rateLimited.Load()
	}
	(*c).Inc()
}

// Name returns the route's name ("" for unmatched requests).
func (rm *RouteMetrics) Name() string { return rm.name }

// Unmatched records a request that matched no route, labelled route="".
func (m *Metrics) Unmatched(method string, status int, d time.Duration) {
	m.unmatched.Observe(method, status, d)
}

// RequestStarted and RequestDone bracket a request for
// gantry_requests_in_flight. Each is one atomic add.
func (m *Metrics) RequestStarted() { m.inFlight.Add(1) }

// RequestDone ends what RequestStarted began.
func (m *Metrics) RequestDone() { m.inFlight.Add(-1) }

// InFlight returns the number of requests between RequestStarted and
// RequestDone.
func (m *Metrics) InFlight() int64 { return m.inFlight.Load() }

// TargetMetrics is the cached handle of one upstream target for
// gantry_upstream_requests_total. It is safe for concurrent use.
type TargetMetrics struct {
	requests *counterTable
}

// Target returns the handle of an upstream's target (its URL as the config
// names it), creating it on first use. Call it when pools are built, not per
// attempt. Like routes, a target's counters stay after a reload drops it.
func (m *Metrics) Target(upstream, target string) *TargetMetrics {
	k := targetKey{upstream, target}
	m.mu.Lock()
	defer m.mu.Unlock()
	if tm, ok := m.targets[k]; ok {
		return tm
	}
	tm := &TargetMetrics{requests: newCounterTable(m.upstreamReqs, false, upstream, target)}
	m.targets[k] = tm
	return tm
}

// Observe counts one attempt sent to the target and the status it answered;
// 0 (or any status outside 100-599) when it gave none, as on a dial error or
// timeout. A nil handle records nothing.
func (tm *TargetMetrics) Observe(status int) {
	if tm == nil {
		return
	}
	tm.requests.counter(0, status).Inc()
}

// SetUpstreamHealthy sets gantry_upstream_healthy for one target to 1 or 0.
func (m *Metrics) SetUpstreamHealthy(upstream, target string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.upstreamHealthy.WithLabelValues(upstream, target).Set(v)
}

// DeleteUpstream removes the health series of every target of an upstream,
// for an upstream a reload removed: a stale "healthy" would mislead. Its
// request counters stay, being cumulative.
func (m *Metrics) DeleteUpstream(upstream string) {
	m.upstreamHealthy.DeletePartialMatch(prometheus.Labels{"upstream": upstream})
}

// DeleteUpstreamTarget removes the health series of one target, for a target
// a reload removed from an upstream that stays.
func (m *Metrics) DeleteUpstreamTarget(upstream, target string) {
	m.upstreamHealthy.DeleteLabelValues(upstream, target)
}

// Reload counts a configuration reload by its result. A successful one also
// sets gantry_config_last_reload_success_timestamp_seconds to now.
func (m *Metrics) Reload(ok bool) {
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.reloadSuccess.SetToCurrentTime()
}

// SetGeneration records the configuration generation now in force. Putting a
// generation in force, the first one included, is a successful load, so it
// also sets the last-success timestamp.
func (m *Metrics) SetGeneration(id uint64) {
	m.generation.Set(float64(id))
	m.reloadSuccess.SetToCurrentTime()
}

// accessLogDropped counts access log lines dropped; see AccessLog.
func (m *Metrics) accessLogDropped() {
	if m != nil {
		m.accessDropped.Inc()
	}
}
