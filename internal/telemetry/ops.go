package telemetry

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Labels the gateway puts in place of a route name.
const (
	// UnmatchedRoute labels requests that matched no route.
	UnmatchedRoute = "(none)"
	// AllRoutes labels the shared per-route histograms when
	// telemetry.metrics.route_histograms is false.
	AllRoutes = "(all)"
)

// Values of gantry_upstream_requests_total's status label for an attempt
// that got no answer, and of gantry_upstream_retries_total's reason label
// for the retry that followed it.
const (
	// FailureConnect: the target could not be connected to (refused,
	// unreachable, connect timeout, TLS handshake).
	FailureConnect = "connect_error"
	// FailureTimeout: no answer within the time allowed (the response
	// timeout, an aggregate call's timeout, a Lambda function's own).
	FailureTimeout = "timeout"
	// FailureError: any other failure without an answer (a reset, a
	// connection closed, an answer that could not be read).
	FailureError = "error"
	// FailureFunction: a Lambda function that failed (the invoke API's
	// X-Amz-Function-Error), though the invoke API itself answered 200.
	FailureFunction = "function_error"
)

// Values of gantry_ratelimit_decisions_total's decision label.
const (
	DecisionAllowed = iota
	DecisionLimited
	DecisionQuotaExceeded
	numDecisions
)

var decisionLabels = [numDecisions]string{"allowed", "limited", "quota_exceeded"}

// Listener names, the values of gantry_connections_open's and
// gantry_tls_handshake_errors_total's listener label.
const (
	ListenerClient = "client"
	ListenerAdmin  = "admin"
)

// sizeBuckets are the bounds, in bytes, of the request and response size
// histograms: 256 B to 8 MiB by factors of eight. Few buckets on purpose:
// every route that served has two of these histograms.
var sizeBuckets = prometheus.ExponentialBuckets(256, 8, 6)

// upstreamDurationBuckets are the bounds, in seconds, of one attempt's
// duration: the request duration's.
var upstreamDurationBuckets = durationBuckets

// ops are the metrics beyond the contract's that operators alert on; see
// docs/metrics.md for each one's meaning and an example alert.
type ops struct {
	buildInfo       *prometheus.GaugeVec
	upDuration      *prometheus.HistogramVec
	retries         *prometheus.CounterVec
	budgetExhausted *prometheus.CounterVec
	ejections       *prometheus.CounterVec
	healthChecks    *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	authFailures    *prometheus.CounterVec
	jwksRefresh     *prometheus.CounterVec
	externalAuth    *prometheus.CounterVec
	reqSize         *prometheus.HistogramVec
	resSize         *prometheus.HistogramVec
	tlsErrors       *prometheus.CounterVec

	// adminConns is the admin listener's open connections; the client
	// listener's are Metrics.connsOpen.
	adminConns atomic.Int64
	// noRouteHistograms is telemetry.metrics.route_histograms negated, so
	// that the zero value keeps them on.
	noRouteHistograms atomic.Bool

	upMu      sync.Mutex
	upstreams map[string]*UpstreamMetrics
}

func (m *Metrics) registerOps() {
	o := &m.ops
	o.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gantry_build_info",
		Help: "Always 1; its labels name the gateway's version and the Go version it was built with.",
	}, []string{"version", "go_version"})
	o.upDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_upstream_request_duration_seconds",
		Help:    "Duration of one attempt sent to an upstream target, from connecting to the last byte of its answer.",
		Buckets: upstreamDurationBuckets,
	}, []string{"upstream", "target"})
	o.retries = counterVec("gantry_upstream_retries_total",
		"Attempts sent to an upstream after an earlier attempt of the same request failed, by what that failure was (a status such as 503, or connect_error, timeout, error).",
		"upstream", "reason")
	o.budgetExhausted = counterVec("gantry_upstream_retry_budget_exhausted_total",
		"Retries not made because the upstream's retry budget had no token left.",
		"upstream")
	o.ejections = counterVec("gantry_upstream_ejections_total",
		"Times a target was ejected by passive health checks (consecutive failures).",
		"upstream", "target")
	o.healthChecks = counterVec("gantry_health_checks_total",
		"Active health check probes, by result (success or failure).",
		"upstream", "target", "result")
	o.decisions = counterVec("gantry_ratelimit_decisions_total",
		"Rate-limit and quota decisions, by route and decision (allowed, limited, quota_exceeded).",
		"route", "decision")
	o.authFailures = counterVec("gantry_auth_failures_total",
		"Requests refused by authentication, by route, method (api_key, jwt, external, none) and reason (missing, invalid, forbidden, denied).",
		"route", "method", "reason")
	o.jwksRefresh = counterVec("gantry_jwks_refresh_total",
		"JWKS fetches of a JWT provider, by result (success or failure).",
		"provider", "result")
	o.externalAuth = counterVec("gantry_external_auth_total",
		"Answers of an external authorization service, by service and result (allowed, denied, unavailable, cached).",
		"service", "result")
	o.reqSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_request_size_bytes",
		Help:    "Size of request bodies received from clients, by route.",
		Buckets: sizeBuckets,
	}, []string{"route"})
	o.resSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_response_size_bytes",
		Help:    "Size of response bodies sent to clients, by route.",
		Buckets: sizeBuckets,
	}, []string{"route"})
	o.tlsErrors = counterVec("gantry_tls_handshake_errors_total",
		"TLS handshakes with clients that failed (bad client hello, no shared cipher or version, timeout), by listener.",
		"listener")
	o.upstreams = make(map[string]*UpstreamMetrics)
	m.reg.MustRegister(o.buildInfo, o.upDuration, o.retries, o.budgetExhausted, o.ejections, o.healthChecks,
		o.decisions, o.authFailures, o.jwksRefresh, o.externalAuth, o.reqSize, o.resSize, o.tlsErrors, connCollector{m})
	o.buildInfo.WithLabelValues("unknown", runtime.Version()).Set(1)
}

// SetBuildInfo sets gantry_build_info's version label; go_version is the
// runtime's.
func (m *Metrics) SetBuildInfo(version string) {
	if version == "" {
		version = "unknown"
	}
	m.ops.buildInfo.Reset()
	m.ops.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// SetRouteHistograms turns the per-route histograms
// (gantry_request_duration_seconds, gantry_request_size_bytes,
// gantry_response_size_bytes) on, the default, or off: then every route
// shares one histogram of each, labelled route="(all)". Request counters
// stay per route either way. Call it before the first request; routes that
// already served keep what they had.
func (m *Metrics) SetRouteHistograms(on bool) { m.ops.noRouteHistograms.Store(!on) }

func (m *Metrics) routeHistograms() bool { return !m.ops.noRouteHistograms.Load() }

// RetainRoutes deletes the series of every route not named in keep: a
// route a reload removed disappears from /metrics rather than staying
// forever at its last values. The server calls it when a generation is put
// in force. A route that comes back under the same name starts from zero.
//
// WebSocket series stay: the route's connections are closed after the swap
// (gantry_websocket_closed_total{reason="route_removed"} counts them), and
// its open-connections gauge goes back to zero as they end.
//
// Each series is deleted by its full label set, which the handles know, so
// a reload that drops thousands of routes costs a few hash lookups per
// route rather than a scan of every series per route.
func (m *Metrics) RetainRoutes(keep []string) {
	set := make(map[string]struct{}, len(keep))
	for _, n := range keep {
		set[n] = struct{}{}
	}
	var routes []*RouteMetrics
	var grpc []string
	m.mu.Lock()
	for name, rm := range m.routes {
		if _, ok := set[name]; !ok {
			rm.gone.Store(true)
			delete(m.routes, name)
			routes = append(routes, rm)
		}
	}
	for name := range m.grpc {
		if _, ok := set[name]; !ok {
			delete(m.grpc, name)
			grpc = append(grpc, name)
		}
	}
	m.mu.Unlock()
	for _, rm := range routes {
		rm.deleteSeries()
	}
	for _, name := range grpc {
		for _, l := range grpcLabels {
			m.grpcResponses.DeleteLabelValues(name, l)
		}
	}
}

// authMethods and authReasons are the label values AuthFailure is called
// with (see plugins/auth), which deleteSeries removes.
var (
	authMethods = [...]string{"none", "api_key", "jwt"}
	authReasons = [...]string{"missing", "invalid", "forbidden"}
)

// deleteSeries removes every series of a route a reload dropped.
func (rm *RouteMetrics) deleteSeries() {
	m, name := rm.m, rm.name
	if s := rm.series.Load(); s != nil {
		if s.requests.deleteAll() {
			// Some (method, status) pairs were never cached: look for them.
			m.requests.DeletePartialMatch(prometheus.Labels{"route": name})
		}
		m.duration.DeleteLabelValues(name)
		m.ops.reqSize.DeleteLabelValues(name)
		m.ops.resSize.DeleteLabelValues(name)
	}
	m.rateLimited.DeleteLabelValues(name)
	rm.deleteLLM()
	m.deleteCacheSeries(name)
	for _, d := range decisionLabels {
		m.ops.decisions.DeleteLabelValues(name, d)
	}
	for _, me := range authMethods {
		for _, r := range authReasons {
			m.ops.authFailures.DeleteLabelValues(name, me, r)
		}
	}
	rm.deleteShapingSeries()
}

// ObserveSizes records the sizes of one finished request's body and of its
// answer's, in bytes. A nil handle records nothing.
func (rm *RouteMetrics) ObserveSizes(in, out int64) {
	if rm == nil || rm.gone.Load() {
		return
	}
	s := rm.load()
	s.reqSize.Observe(float64(in))
	s.resSize.Observe(float64(out))
}

// UnmatchedSizes records the sizes of a request that matched no route.
func (m *Metrics) UnmatchedSizes(in, out int64) { m.unmatched.ObserveSizes(in, out) }

// RateLimitDecision counts one decision of the route's rate limit or quota,
// one of the Decision* values. Its series appear on first use, so routes
// without limits add none. It does not allocate once a decision was seen.
func (rm *RouteMetrics) RateLimitDecision(d int) {
	if rm == nil || rm.gone.Load() || d < 0 || d >= numDecisions {
		return
	}
	c := rm.decisions[d].Load()
	if c == nil {
		nc := rm.m.ops.decisions.WithLabelValues(rm.name, decisionLabels[d])
		rm.decisions[d].CompareAndSwap(nil, &nc)
		c = rm.decisions[d].Load()
	}
	(*c).Inc()
}

// AuthFailure counts one request of the route refused by authentication:
// method is the kind of credential that failed (api_key, jwt, or none when
// none was presented) and reason why (missing, invalid, forbidden). Both
// come from small fixed sets the caller owns, never from the request.
func (rm *RouteMetrics) AuthFailure(method, reason string) {
	if rm == nil || rm.gone.Load() {
		return
	}
	rm.m.ops.authFailures.WithLabelValues(rm.name, method, reason).Inc()
}

// JWKSRefreshed counts one JWKS fetch of the named JWT provider.
func (m *Metrics) JWKSRefreshed(provider string, ok bool) {
	r := "success"
	if !ok {
		r = "failure"
	}
	m.ops.jwksRefresh.WithLabelValues(provider, r).Inc()
}

// ExternalAuthChecked counts one answer of the named external
// authorization service: result is allowed, denied, unavailable (no
// decision: down, slow, 5xx) or cached (answered from its cache).
func (m *Metrics) ExternalAuthChecked(service, result string) {
	m.ops.externalAuth.WithLabelValues(service, result).Inc()
}

// UpstreamMetrics is the cached handle of one upstream's retry metrics. It
// is safe for concurrent use; a nil handle records nothing.
type UpstreamMetrics struct {
	vec       *prometheus.CounterVec
	name      string
	exhausted prometheus.Counter
	// reasons caches the retries counter of each reason seen.
	reasons sync.Map // string -> prometheus.Counter
}

// Upstream returns the handle of the named upstream, creating it on first
// use; call it when pools are built. Its retry budget counter exists from
// then on, at zero, so an alert on its rate sees a value.
func (m *Metrics) Upstream(name string) *UpstreamMetrics {
	o := &m.ops
	o.upMu.Lock()
	defer o.upMu.Unlock()
	if um, ok := o.upstreams[name]; ok {
		return um
	}
	um := &UpstreamMetrics{vec: o.retries, name: name, exhausted: o.budgetExhausted.WithLabelValues(name)}
	o.upstreams[name] = um
	return um
}

// Retry counts one retry of a request to the upstream; reason is what the
// attempt before it got: its status (a 5xx label from StatusLabel) or one
// of the Failure* values.
func (um *UpstreamMetrics) Retry(reason string) {
	if um == nil {
		return
	}
	if c, ok := um.reasons.Load(reason); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c, _ := um.reasons.LoadOrStore(reason, um.vec.WithLabelValues(um.name, reason))
	c.(prometheus.Counter).Inc()
}

// BudgetExhausted counts one retry the upstream's retry budget refused.
func (um *UpstreamMetrics) BudgetExhausted() {
	if um != nil {
		um.exhausted.Inc()
	}
}

// StatusLabel returns the metric label of an HTTP status: its decimal form
// for 100-599, else "0". It does not allocate.
func StatusLabel(code int) string { return statusLabel(code) }

// targetOps are one target's operator metrics; part of TargetMetrics.
type targetOps struct {
	ops              *ops
	upstream, target string
	duration         atomic.Pointer[prometheus.Observer]
	failed           [3]atomic.Pointer[prometheus.Counter]
	reqs             *prometheus.CounterVec
}

func (m *Metrics) newTargetOps(upstream, target string) targetOps {
	return targetOps{ops: &m.ops, upstream: upstream, target: target, reqs: m.upstreamReqs}
}

var failureLabels = [...]string{FailureConnect, FailureTimeout, FailureError}

// Failed counts one attempt that got no answer in
// gantry_upstream_requests_total, with status set to reason: one of the
// Failure* values (FailureConnect, FailureTimeout, FailureError,
// FailureFunction).
func (tm *TargetMetrics) Failed(reason string) {
	if tm == nil {
		return
	}
	for i, l := range failureLabels {
		if l == reason {
			c := tm.failed[i].Load()
			if c == nil {
				nc := tm.reqs.WithLabelValues(tm.upstream, tm.target, l)
				tm.failed[i].CompareAndSwap(nil, &nc)
				c = tm.failed[i].Load()
			}
			(*c).Inc()
			return
		}
	}
	tm.reqs.WithLabelValues(tm.upstream, tm.target, reason).Inc()
}

// ObserveDuration records one attempt's duration, from connecting to the
// last byte of its answer. It does not allocate after the first.
func (tm *TargetMetrics) ObserveDuration(d time.Duration) {
	if tm == nil {
		return
	}
	o := tm.duration.Load()
	if o == nil {
		no := tm.ops.upDuration.WithLabelValues(tm.upstream, tm.target)
		tm.duration.CompareAndSwap(nil, &no)
		o = tm.duration.Load()
	}
	(*o).Observe(d.Seconds())
}

// Ejected counts one passive ejection of the target.
func (tm *TargetMetrics) Ejected() {
	if tm != nil {
		tm.ops.ejections.WithLabelValues(tm.upstream, tm.target).Inc()
	}
}

// HealthCheck counts one active health probe of the target.
func (tm *TargetMetrics) HealthCheck(ok bool) {
	if tm == nil {
		return
	}
	r := "success"
	if !ok {
		r = "failure"
	}
	tm.ops.healthChecks.WithLabelValues(tm.upstream, tm.target, r).Inc()
}

// TLSHandshakeFailed counts one failed TLS handshake on the named listener.
func (m *Metrics) TLSHandshakeFailed(listener string) {
	m.ops.tlsErrors.WithLabelValues(listener).Inc()
}

// connCollector exports gantry_connections_open by listener from the
// atomic counts the listeners keep, so opening a connection costs one
// atomic add.
type connCollector struct{ m *Metrics }

var connsOpenDesc = prometheus.NewDesc("gantry_connections_open",
	"Connections open now, by listener (client or admin).", []string{"listener"}, nil)

func (c connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connsOpenDesc }

func (c connCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(connsOpenDesc, prometheus.GaugeValue, float64(c.m.connsOpen.Load()), ListenerClient)
	ch <- prometheus.MustNewConstMetric(connsOpenDesc, prometheus.GaugeValue, float64(c.m.ops.adminConns.Load()), ListenerAdmin)
}

// AdminListener wraps the admin listener so that its connections count in
// gantry_connections_open{listener="admin"}.
func (m *Metrics) AdminListener(ln net.Listener) net.Listener {
	return &countedListener{Listener: ln, n: &m.ops.adminConns}
}

type countedListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.n.Add(1)
	return &countedConn{Conn: c, n: l.n}, nil
}

// countedConn frees its count once, however often it is closed.
type countedConn struct {
	net.Conn
	n      *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.n.Add(-1)
	}
	return c.Conn.Close()
}
