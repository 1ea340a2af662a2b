package main

import (
	"net/http"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

// kind is what a scenario puts between wrk and the upstream.
type kind int

const (
	kindDirect kind = iota // nothing: the upstream's own limit
	kindNginx
	kindHAProxy // the second reference, beside NGINX
	kindGoProxy // the standard library's reverse proxy, for reference
	kindFloor   // the least a Go relay does (bench/cmd/floorproxy)
	kindCaddy   // a Go peer (PEERS=go)
	kindTraefik // a Go peer (PEERS=go)
	kindGantry
)

// routesN is the size of the many-routes scenario's table.
const routesN = 10000

// scenario is one line of the results table.
type scenario struct {
	key, title string
	kind       kind
	// config is the embedded gateway config (configs/NAME.yaml); routes
	// marks the generated many-routes config instead.
	config string
	routes bool
	// tracing scenarios run the plain config with tracing on at
	// sampleRatio (bench.TracingConfig), exporting to a sink of their own.
	tracing     bool
	sampleRatio float64
	path        string
	header      []string // "Name: value"
	// required scenarios stop the run when they cannot be measured; the
	// others are reported as skipped.
	required bool
	// always scenarios run whatever -only says (the required ones too).
	always bool
	// fixedRate scenarios are also measured at a fixed request rate.
	fixedRate bool
	// aggregate answers merge these call names instead of the upstream body.
	aggregate []string
	// expectHeader must be on the answer: proof that a policy is applied,
	// not silently ignored.
	expectHeader string
	// group is a name -only selects the scenario by, beside its key: a
	// gantry scenario and its NGINX counterpart share one.
	group string
	// optIn scenarios run in a full run (no -quick, no -only) and when
	// -only names them or their group, not in a -quick one.
	optIn bool
	// tlsFront scenarios are served over HTTPS (TLS 1.3) with the run's
	// certificate; tlsUpstream ones reach the upstream over HTTPS.
	tlsFront, tlsUpstream bool
	// vs is the key of the scenario the "vs NGINX" column divides by:
	// the NGINX of the same setup ("" for the plain one).
	vs string

	// Set when started; client, when set, is the one check uses (it
	// trusts the run's certificate).
	url    string
	client *http.Client
	proc   *proc
	admin  string    // the gateway's admin base URL
	sink   *otlpSink // a tracing scenario's collector
	skip   string
	pids   func() []int // processes whose CPU is the proxy's
	rssOf  func() []int // processes whose RSS is reported

	// Results.
	runs []measure
	// rss is read once the processes settled after the rounds (rssSettle),
	// rssLoad right at their end.
	rss, rssLoad uint64
	// masterRSS is NGINX's master, reported beside the workers' sum.
	masterRSS uint64
	fixed     fixedMeasure
}

// measure is one saturation run.
type measure struct {
	wrk wrkResult
	// CPU seconds spent by the proxy and by the upstream during the run.
	proxyCPU, upstreamCPU float64
	// exports and exportBytes are what a tracing scenario's sink received
	// during the run.
	exports, exportBytes int64
}

// fixedMeasure pools the fixed-rate rounds of one scenario.
type fixedMeasure struct {
	latencies      []time.Duration
	sent, ok, errs int
	proxyCPU       float64
	maxLate        time.Duration
	rounds         int
}

// clientFields are the header fields a browser's fetch of a JSON API sends
// besides Host, about 330 bytes. The headers scenarios send them on every
// request, so that what a field costs (reading, checking, forwarding) is
// measured: the other scenarios send Host alone, or Host and the key.
var clientFields = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"Accept: application/json, text/plain, */*",
	"Accept-Encoding: gzip, deflate, br",
	"Accept-Language: en-US,en;q=0.9",
	"Cache-Control: no-cache",
	"Referer: https://app.example.com/dashboard",
	"Sec-Fetch-Mode: cors",
	"X-Client-Version: 4.12.0",
}

func scenarios() []*scenario {
	key := []string{"X-API-Key: " + bench.APIKey}
	return []*scenario{
		{key: "direct", title: "upstream direct (the limit)", kind: kindDirect, path: "/items/42", required: true, fixedRate: true},
		{key: "nginx", title: "NGINX, 2 workers", kind: kindNginx, path: "/items/42", required: true, fixedRate: true},
		{key: "haproxy", title: "HAProxy, 2 threads", kind: kindHAProxy, path: "/items/42", always: true, fixedRate: true},
		{key: "goproxy", title: "Go httputil.ReverseProxy (reference)", kind: kindGoProxy, path: "/items/42"},
		{key: "floor", title: "Go floor: a bare byte relay (reference)", kind: kindFloor, path: "/items/42"},
		{key: "caddy", title: "Caddy (Go peer)", kind: kindCaddy, path: "/items/42", always: true, fixedRate: true},
		{key: "traefik", title: "Traefik (Go peer)", kind: kindTraefik, path: "/items/42", always: true, fixedRate: true},
		{key: "plain", title: "gantry plain (1 route)", kind: kindGantry, config: "plain.yaml", path: "/items/42", required: true, fixedRate: true},
		{key: "tracing_1", group: "tracing", title: "gantry plain, tracing on (ratio 1.0)", kind: kindGantry, tracing: true, sampleRatio: 1, path: "/items/42"},
		{key: "tracing_0.01", group: "tracing", title: "gantry plain, tracing on (ratio 0.01)", kind: kindGantry, tracing: true, sampleRatio: 0.01, path: "/items/42"},
		{key: "auth", title: "gantry + API key", kind: kindGantry, config: "auth.yaml", path: "/items/42", header: key},
		{key: "policy", title: "gantry + API key + rate limit + metering", kind: kindGantry, config: "policy.yaml", path: "/items/42", header: key, expectHeader: "RateLimit-Limit"},
		{key: "cache", title: "gantry response cache hit", kind: kindGantry, config: "cache.yaml", path: "/items/42", expectHeader: "X-Cache"},
		{key: "aggregate", title: "gantry aggregate (3 calls)", kind: kindGantry, config: "aggregate.yaml", path: "/dashboard/42", aggregate: []string{"orders", "prefs", "user"}},
		{key: "routes", title: "gantry, 10,000 routes", kind: kindGantry, routes: true, path: bench.RoutesTarget(routesN)},
		{key: "nginx_https_front", group: "https_front", title: "NGINX, HTTPS front (TLS 1.3)", kind: kindNginx, path: "/items/42",
			optIn: true, tlsFront: true, vs: "nginx_https_front"},
		{key: "https_front", group: "https_front", title: "gantry, HTTPS front (TLS 1.3)", kind: kindGantry, config: "https_front.yaml", path: "/items/42",
			optIn: true, tlsFront: true, vs: "nginx_https_front"},
		{key: "nginx_headers", group: "headers", title: "NGINX, 8 client header fields", kind: kindNginx, path: "/items/42", header: clientFields,
			optIn: true, vs: "nginx_headers"},
		{key: "headers", group: "headers", title: "gantry plain, 8 client header fields", kind: kindGantry, config: "plain.yaml", path: "/items/42", header: clientFields,
			optIn: true, vs: "nginx_headers"},
		{key: "nginx_https_upstream", group: "https_upstream", title: "NGINX, https upstream", kind: kindNginx, path: "/items/42",
			optIn: true, tlsUpstream: true, vs: "nginx_https_upstream"},
		{key: "https_upstream", group: "https_upstream", title: "gantry, https upstream (protocol http1)", kind: kindGantry, config: "https_upstream.yaml", path: "/items/42",
			optIn: true, tlsUpstream: true, vs: "nginx_https_upstream"},
	}
}

// rotate returns s starting at index r mod len(s): each round starts with
// a different scenario so none always runs on a machine warmed (or
// throttled) by the same neighbour.
func rotate[T any](s []T, r int) []T {
	if len(s) == 0 {
		return nil
	}
	r %= len(s)
	return slices.Concat(s[r:], s[:r])
}

// median of v; 0 when empty. v is not modified.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (s *scenario) rpsAll() []float64 {
	out := make([]float64, len(s.runs))
	for i, m := range s.runs {
		out[i] = m.wrk.rps()
	}
	return out
}

func (s *scenario) rps() float64 { return median(s.rpsAll()) }

func (s *scenario) p50() time.Duration {
	return s.medianLatency(func(w wrkResult) int64 { return w.P50US })
}

func (s *scenario) p99() time.Duration {
	return s.medianLatency(func(w wrkResult) int64 { return w.P99US })
}

// medianLatency is the median over the runs of one wrk latency, in µs.
func (s *scenario) medianLatency(us func(wrkResult) int64) time.Duration {
	v := make([]float64, len(s.runs))
	for i, m := range s.runs {
		v[i] = float64(us(m.wrk))
	}
	return time.Duration(median(v)) * time.Microsecond
}

// requests sums the requests of every round.
func (s *scenario) requests() int64 {
	var n int64
	for _, m := range s.runs {
		n += m.wrk.Requests
	}
	return n
}

// cpuPerRequest is the proxy's CPU over every round divided by every
// round's requests, in microseconds; pooling keeps the 10 ms tick from
// dominating a short round.
func (s *scenario) cpuPerRequest() float64 {
	return s.perRequestUS(func(m measure) float64 { return m.proxyCPU })
}

func (s *scenario) upstreamCPUPerRequest() float64 {
	return s.perRequestUS(func(m measure) float64 { return m.upstreamCPU })
}

// perRequestUS pools the CPU seconds cpu picks from every round over every
// round's requests, in microseconds; 0 without requests.
func (s *scenario) perRequestUS(cpu func(measure) float64) float64 {
	var sum float64
	for _, m := range s.runs {
		sum += cpu(m)
	}
	if n := s.requests(); n > 0 {
		return sum / float64(n) * 1e6
	}
	return 0
}

// errors sums the saturation runs' errors.
func (s *scenario) errors() int64 {
	var n int64
	for _, m := range s.runs {
		n += m.wrk.errors()
	}
	return n
}

// exported sums what the sink received over the rounds: export requests
// and their bytes.
func (s *scenario) exported() (exports, bytes int64) {
	for _, m := range s.runs {
		exports += m.exports
		bytes += m.exportBytes
	}
	return exports, bytes
}
