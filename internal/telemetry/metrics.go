package telemetry

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// durationBuckets are the bounds, in seconds, of the request duration
// histogram: from half a millisecond (a cached or rejected request) to ten
// seconds (a slow upstream).
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

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
	wsOpen          *prometheus.GaugeVec
	wsMessages      *prometheus.CounterVec
	wsClosed        *prometheus.CounterVec
	grpcResponses   *prometheus.CounterVec
	connsRejected   prometheus.Counter
	requestsShed    prometheus.Counter

	// ops are the metrics operators alert on beyond the contract's (see
	// ops.go).
	ops ops
	// llm are the metrics of routes with llm (see llm.go).
	llm llmMetrics
	// shaping are the split, mirror and transform metrics (shaping.go).
	shaping shaping

	// inFlight is exported through a GaugeFunc: one atomic add per request
	// is cheaper than a float gauge's compare-and-swap loop under contention.
	inFlight atomic.Int64
	// connsOpen is the client connections open now
	// (gantry_connections_open); the server's listener writes it.
	connsOpen atomic.Int64

	backendsOnce sync.Once
	backends     *Backends

	cacheOnce sync.Once
	cache     *prometheus.CounterVec

	mu         sync.Mutex
	routes     map[string]*RouteMetrics
	targets    map[targetKey]*TargetMetrics
	websockets map[string]*WebSocketMetrics
	grpc       map[string]*GRPCMetrics
	unmatched  *RouteMetrics
}

type targetKey struct{ upstream, target string }

// NewMetrics registers the gateway's metrics, and the Go runtime and process
// collectors, on a new private registry. It never touches Prometheus's global
// default registry, so several instances (tests, embedded servers) coexist.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: counterVec("gantry_requests_total",
			"Requests answered by the gateway, by route, method and status. route is \"(none)\" when no route matched.",
			"route", "method", "status"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its answer, by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		rateLimited: counterVec("gantry_rate_limited_total",
			"Requests refused by a rate limit, by route.",
			"route"),
		upstreamHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_upstream_healthy",
			Help: "Whether an upstream target takes traffic (1) or not (0).",
		}, []string{"upstream", "target"}),
		upstreamReqs: counterVec("gantry_upstream_requests_total",
			"Attempts sent to upstream targets, by the status they answered (0 when none).",
			"upstream", "target", "status"),
		reloads: counterVec("gantry_config_reloads_total",
			"Configuration reloads, by result (success or failure).",
			"result"),
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
		wsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_websocket_connections",
			Help: "WebSocket connections open now, by route.",
		}, []string{"route"}),
		wsMessages: counterVec("gantry_websocket_messages_total",
			"WebSocket data messages relayed, by route and direction (in: from the client, out: to it). Control frames are not counted.",
			"route", "direction"),
		wsClosed: counterVec("gantry_websocket_closed_total",
			"WebSocket connections ended, by route and reason (client_closed, upstream_closed, idle_timeout, max_lifetime, route_removed, shutdown).",
			"route", "reason"),
		grpcResponses: counterVec("gantry_grpc_responses_total",
			"gRPC calls answered, the gateway's own errors included, by route and the grpc-status they ended with (\"unknown\" when it was missing or not a standard code).",
			"route", "grpc_status"),
		connsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_connections_rejected_total",
			Help: "Client connections closed at once because server.limits.max_connections were open.",
		}),
		requestsShed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_requests_shed_total",
			Help: "Requests answered 503 overloaded because server.limits.max_concurrent_requests were being served.",
		}),
		routes:     make(map[string]*RouteMetrics),
		targets:    make(map[targetKey]*TargetMetrics),
		websockets: make(map[string]*WebSocketMetrics),
		grpc:       make(map[string]*GRPCMetrics),
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
		m.wsOpen, m.wsMessages, m.wsClosed, m.grpcResponses,
		m.connsRejected, m.requestsShed,
	)
	m.registerOps()
	m.registerLLM()
	m.registerShaping()
	// Both results exist from the start so rate() and alerts see a zero.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	// Unmatched requests have a series from the start: one histogram, and
	// a 404 rate that reads zero rather than absent.
	m.unmatched = &RouteMetrics{name: UnmatchedRoute, m: m}
	m.unmatched.load()
	return m
}

// Handler serves the registry in Prometheus's text exposition format,
// gzip-compressed (at gzip.BestSpeed) for clients that accept it.
func (m *Metrics) Handler() http.Handler {
	return gzipped(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		// Compressed by gzipped.
		DisableCompression: true,
	}))
}

// Registry returns the private registry, for packages that export metrics
// of their own (usage metering, counters). Their names should start with
// "gantry_".
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RouteMetrics is the cached metrics handle of one route. It is safe for
// concurrent use and outlives config generations: Metrics.Route returns the
// same handle for the same name after a reload.
//
// A handle costs a few dozen bytes until its route serves: the route's
// gantry_requests_total and gantry_request_duration_seconds series (a
// histogram is about 1 KiB) are created by its first Observe, so a table
// of 10,000 routes of which a few serve pays for a few.
type RouteMetrics struct {
	name   string
	m      *Metrics
	series atomic.Pointer[routeSeries]

	rateLimited atomic.Pointer[prometheus.Counter]
	// decisions are the gantry_ratelimit_decisions_total counters, by
	// decision, created on first use.
	decisions [numDecisions]atomic.Pointer[prometheus.Counter]
	// gone is set when a reload removed the route (see RetainRoutes): its
	// series are deleted, and requests still running on the old
	// generation must not create them again.
	gone atomic.Bool
}

// routeSeries are a route's request series, created on its first request.
type routeSeries struct {
	duration prometheus.Observer
	requests *counterTable
	// reqSize and resSize are gantry_request_size_bytes and
	// gantry_response_size_bytes.
	reqSize, resSize prometheus.Observer
}

// Route returns the handle of the named route, creating it on first use.
// Call it when a config generation is compiled, not per request. The
// route's series appear on its first request (see RouteMetrics), and go
// away when a reload drops the route (see RetainRoutes). Requests that
// match no route have a handle of their own (see Unmatched).
func (m *Metrics) Route(name string) *RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm, ok := m.routes[name]; ok {
		return rm
	}
	rm := &RouteMetrics{name: name, m: m}
	m.routes[name] = rm
	return rm
}

// load returns the route's series, creating them on first use. Two
// requests racing to create them get the same: the vectors return the
// same child for the same labels, and the first table stored wins.
func (rm *RouteMetrics) load() *routeSeries {
	if s := rm.series.Load(); s != nil {
		return s
	}
	// With route histograms off, every route shares one histogram of
	// each kind, labelled route="(all)".
	hl := rm.name
	if !rm.m.routeHistograms() {
		hl = AllRoutes
	}
	ns := &routeSeries{
		duration: rm.m.duration.WithLabelValues(hl),
		requests: newCounterTable(rm.m.requests, true, rm.name),
		reqSize:  rm.m.ops.reqSize.WithLabelValues(hl),
		resSize:  rm.m.ops.resSize.WithLabelValues(hl),
	}
	if rm.series.CompareAndSwap(nil, ns) {
		return ns
	}
	return rm.series.Load()
}

// Observe records one finished request: its method (see methodLabel), the
// status sent to the client and its duration. After a (method, status) pair
// has been seen once it performs no map lookup and no allocation. A nil
// handle records nothing.
func (rm *RouteMetrics) Observe(method string, status int, d time.Duration) {
	if rm == nil || rm.gone.Load() {
		return
	}
	s := rm.load()
	s.requests.counter(methodIndex(method), status).Inc()
	s.duration.Observe(d.Seconds())
}

// RateLimited counts one request of this route refused by a rate limit. Its
// series appears on first use, so routes without limits add none.
func (rm *RouteMetrics) RateLimited() {
	if rm == nil || rm.gone.Load() {
		return
	}
	c := rm.rateLimited.Load()
	if c == nil {
		nc := rm.m.rateLimited.WithLabelValues(rm.name)
		rm.rateLimited.CompareAndSwap(nil, &nc)
		c = rm.rateLimited.Load()
	}
	(*c).Inc()
}

// Name returns the route's name (UnmatchedRoute for unmatched requests).
func (rm *RouteMetrics) Name() string { return rm.name }

// Unmatched records a request that matched no route, labelled
// route="(none)" (UnmatchedRoute).
func (m *Metrics) Unmatched(method string, status int, d time.Duration) {
	m.unmatched.Observe(method, status, d)
}

// RequestStarted and RequestDone bracket a request for
// gantry_requests_in_flight. Each is one atomic add.
func (m *Metrics) RequestStarted() { m.inFlight.Add(1) }

// RequestDone ends what RequestStarted began.
func (m *Metrics) RequestDone() { m.inFlight.Add(-1) }

// ConnectionOpened counts a client connection as open and returns how many
// are open now, this one included.
func (m *Metrics) ConnectionOpened() int64 { return m.connsOpen.Add(1) }

// ConnectionClosed ends what ConnectionOpened started.
func (m *Metrics) ConnectionClosed() { m.connsOpen.Add(-1) }

// ConnectionsOpen returns the client connections open now.
func (m *Metrics) ConnectionsOpen() int64 { return m.connsOpen.Load() }

// ConnectionRejected counts a connection closed at once for
// server.limits.max_connections.
func (m *Metrics) ConnectionRejected() { m.connsRejected.Inc() }

// RequestShed counts a request answered 503 overloaded for
// server.limits.max_concurrent_requests.
func (m *Metrics) RequestShed() { m.requestsShed.Inc() }

// InFlight returns the number of requests between RequestStarted and
// RequestDone.
func (m *Metrics) InFlight() int64 { return m.inFlight.Load() }

// TargetMetrics is the cached handle of one upstream target for
// gantry_upstream_requests_total. It is safe for concurrent use.
type TargetMetrics struct {
	requests *counterTable
	// targetOps are the target's operator metrics (see ops.go).
	targetOps
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
	tm.targetOps = m.newTargetOps(upstream, target)
	m.targets[k] = tm
	return tm
}

// Observe counts one attempt sent to the target and the status it answered.
// A status of 0 means it gave none and no cause is known: it is labelled
// "error" (see Failed for connect errors and timeouts). A nil handle records
// nothing.
func (tm *TargetMetrics) Observe(status int) {
	if tm == nil {
		return
	}
	if status == 0 {
		tm.Failed(FailureError)
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

// WebSocket close reasons, the values of gantry_websocket_closed_total's
// reason label.
const (
	WSClientClosed   = "client_closed"
	WSUpstreamClosed = "upstream_closed"
	WSIdleTimeout    = "idle_timeout"
	WSMaxLifetime    = "max_lifetime"
	WSRouteRemoved   = "route_removed"
	WSShutdown       = "shutdown"
)

var wsReasons = [...]string{WSClientClosed, WSUpstreamClosed, WSIdleTimeout, WSMaxLifetime, WSRouteRemoved, WSShutdown}

// WebSocketMetrics is the cached handle of one route's WebSocket metrics:
// gantry_websocket_connections, gantry_websocket_messages_total and
// gantry_websocket_closed_total. The series appear when the route's first
// connection opens, so routes that never upgrade add none. Safe for
// concurrent use; a nil handle records nothing.
type WebSocketMetrics struct {
	m     *Metrics
	route string

	once    sync.Once
	open    prometheus.Gauge
	in, out prometheus.Counter
	closed  [len(wsReasons)]prometheus.Counter
}

// WebSocket returns the WebSocket handle of the named route, creating it on
// first use. Call it when a config generation is compiled; like Route, the
// handle outlives generations.
func (m *Metrics) WebSocket(route string) *WebSocketMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if wm, ok := m.websockets[route]; ok {
		return wm
	}
	wm := &WebSocketMetrics{m: m, route: route}
	m.websockets[route] = wm
	return wm
}

func (wm *WebSocketMetrics) init() {
	wm.once.Do(func() {
		m := wm.m
		wm.open = m.wsOpen.WithLabelValues(wm.route)
		wm.in = m.wsMessages.WithLabelValues(wm.route, "in")
		wm.out = m.wsMessages.WithLabelValues(wm.route, "out")
		// Every reason exists from the first connection so rate() and
		// alerts see a zero.
		for i, r := range wsReasons {
			wm.closed[i] = m.wsClosed.WithLabelValues(wm.route, r)
		}
	})
}

// Opened counts a connection that has been upgraded.
func (wm *WebSocketMetrics) Opened() {
	if wm == nil {
		return
	}
	wm.init()
	wm.open.Inc()
}

// Closed counts a connection that ended, for one of the WS* reasons.
func (wm *WebSocketMetrics) Closed(reason string) {
	if wm == nil {
		return
	}
	wm.init()
	wm.open.Dec()
	for i, r := range wsReasons {
		if r == reason {
			wm.closed[i].Inc()
			return
		}
	}
	wm.m.wsClosed.WithLabelValues(wm.route, reason).Inc()
}

// MessagesIn counts n data messages from the client. It does not allocate.
func (wm *WebSocketMetrics) MessagesIn(n int64) {
	if wm == nil {
		return
	}
	wm.init()
	wm.in.Add(float64(n))
}

// MessagesOut counts n data messages to the client. It does not allocate.
func (wm *WebSocketMetrics) MessagesOut(n int64) {
	if wm == nil {
		return
	}
	wm.init()
	wm.out.Add(float64(n))
}

// grpcStatusUnknown labels a gRPC response whose grpc-status was missing or
// not one of the standard codes 0 (OK) to 16 (UNAUTHENTICATED): one label
// for all of them, so an upstream cannot mint series.
const grpcStatusUnknown = "unknown"

const (
	grpcMaxCode = 16
	grpcUnknown = grpcMaxCode + 1 // the index of grpcStatusUnknown
)

var grpcLabels = func() [grpcUnknown + 1]string {
	var t [grpcUnknown + 1]string
	for i := range grpcMaxCode + 1 {
		t[i] = strconv.Itoa(i)
	}
	t[grpcUnknown] = grpcStatusUnknown
	return t
}()

// GRPCMetrics is the cached handle of one route's
// gantry_grpc_responses_total. Safe for concurrent use; a nil handle records
// nothing.
type GRPCMetrics struct {
	vec    *prometheus.CounterVec
	route  string
	status [grpcUnknown + 1]atomic.Pointer[prometheus.Counter]
}

// GRPC returns the gRPC handle of the named route, creating it on first use.
// Call it when a config generation is compiled; the handle outlives
// generations.
func (m *Metrics) GRPC(route string) *GRPCMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gm, ok := m.grpc[route]; ok {
		return gm
	}
	gm := &GRPCMetrics{vec: m.grpcResponses, route: route}
	m.grpc[route] = gm
	return gm
}

// Observe counts one gRPC response that ended with status, the value of its
// grpc-status trailer (or header, for a trailers-only response). A status
// other than "0" to "16" counts as "unknown". After a status has been seen
// once it does not allocate.
func (gm *GRPCMetrics) Observe(status string) {
	if gm == nil {
		return
	}
	i := grpcIndex(status)
	c := gm.status[i].Load()
	if c == nil {
		nc := gm.vec.WithLabelValues(gm.route, grpcLabels[i])
		gm.status[i].CompareAndSwap(nil, &nc)
		c = gm.status[i].Load()
	}
	(*c).Inc()
}

// GRPCStatusLabel returns the label of a grpc-status value: itself for "0"
// to "16", "unknown" for anything else (missing included). It does not
// allocate.
func GRPCStatusLabel(status string) string { return grpcLabels[grpcIndex(status)] }

// grpcIndex maps a grpc-status value to its label index.
func grpcIndex(s string) int {
	n := 0
	switch {
	case len(s) == 1 && s[0] >= '0' && s[0] <= '9':
		n = int(s[0] - '0')
	case len(s) == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '9':
		n = 10 + int(s[1]-'0')
	default:
		return grpcUnknown
	}
	if n > grpcMaxCode {
		return grpcUnknown
	}
	return n
}

// counterVec is a counter vector named name with help text help and the
// labels given; every counter of the gateway's is declared through it.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}
