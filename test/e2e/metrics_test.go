package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics parses /metrics. Label values with escaped quotes are not
// expected in what these tests look at and fail the parse.
func parseMetrics(t *testing.T, body []byte) []sample {
	t.Helper()
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			t.Fatalf("malformed line %q", l)
		}
		v, err := strconv.ParseFloat(l[sp+1:], 64)
		if err != nil {
			t.Fatalf("malformed value in %q", l)
		}
		s := sample{labels: map[string]string{}, value: v}
		series := l[:sp]
		i := strings.IndexByte(series, '{')
		if i < 0 {
			s.name = series
			out = append(out, s)
			continue
		}
		s.name = series[:i]
		rest := strings.TrimSuffix(series[i+1:], "}")
		for rest != "" {
			k, after, ok := strings.Cut(rest, `="`)
			if !ok {
				t.Fatalf("malformed labels in %q", l)
			}
			val, after2, ok := strings.Cut(after, `"`)
			if !ok || strings.HasSuffix(val, `\`) {
				t.Fatalf("unsupported label value in %q", l)
			}
			s.labels[k] = val
			rest = strings.TrimPrefix(after2, ",")
		}
		out = append(out, s)
	}
	return out
}

// metricsOf scrapes g's /metrics and returns it parsed, and raw.
func metricsOf(t *testing.T, g *testkit.Gantry) ([]sample, []byte) {
	t.Helper()
	status, body := g.Admin("GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	return parseMetrics(t, body), body
}

// value returns the value of the series name{labels} (exactly those
// labels), and whether it exists.
func value(ss []sample, name string, labels ...string) (float64, bool) {
	for _, s := range ss {
		if s.name != name || len(s.labels) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				match = false
				break
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// withLabel reports whether any series of any name has label k=v.
func withLabel(ss []sample, k, v string) []string {
	var out []string
	for _, s := range ss {
		if s.labels[k] == v {
			out = append(out, s.name)
		}
	}
	return out
}

// promtoolCheck runs `promtool check metrics` on body. It skips when
// promtool is not installed, unless GANTRY_TEST_REQUIRE_SERVICES is set
// (CI installs it).
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("GANTRY_TEST_REQUIRE_SERVICES") != "" {
			t.Fatal("promtool not installed (GANTRY_TEST_REQUIRE_SERVICES is set)")
		}
		t.Skip("promtool not installed")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// jwksServer serves a JWKS with one P-256 key.
func jwksServer(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":%q,"y":%q}]}`,
		b64(pub[1:33]), b64(pub[33:]))
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, jwks)
	}))
	return srv.URL
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestMetricsAfterScriptedTraffic drives a scripted mix of traffic through
// the binary (retries, a spent retry budget, an ejection, failing probes,
// connect errors and timeouts, 401s, 429s, a quota, a failed TLS
// handshake) and checks that /metrics counts each, and that promtool finds
// the exposition clean.
func TestMetricsAfterScriptedTraffic(t *testing.T) {
	status503 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	broken := testkit.Upstream(t, status503)
	down1, down2 := testkit.Upstream(t, status503), testkit.Upstream(t, status503)
	good := testkit.NewEcho(t, "good")
	slow := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	sick := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	dead := "http://" + closedAddr(t)
	certFile, keyFile, roots := selfSigned(t)
	db := filepath.Join(t.TempDir(), "gantry.db")

	cfg := baseWith(fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}", certFile, keyFile), fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
auth:
  api_key: {header: X-API-Key}
  jwt:
    - name: idp
      jwks_url: %s
      algorithms: [ES256]
plans:
  tiny:
    quota: {requests: 2, per: day}
consumers:
  - id: acme
    plan: tiny
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  flaky:
    targets: [{url: %q}, {url: %q}]
    retries: 1
    passive: {failures: 2, eject_for: 1m}
  down:
    targets: [{url: %q}, {url: %q}]
    retries: 1
  good: {targets: [{url: %q}]}
  dead: {targets: [{url: %q}]}
  slow:
    targets: [{url: %q}]
    timeouts: {response: 300ms}
  probed:
    targets: [{url: %q}]
    health_check: {path: /healthz, interval: 100ms, timeout: 100ms, unhealthy_after: 1}
routes:
  - {name: flaky, match: {path_prefix: /flaky}, upstream: flaky}
  - {name: down, match: {path_prefix: /down}, upstream: down}
  - {name: dead, match: {path_prefix: /dead}, upstream: dead}
  - {name: slow, match: {path_prefix: /slow}, upstream: slow}
  - {name: plain, match: {path_prefix: /plain}, upstream: good}
  - name: limited
    match: {path_prefix: /limited}
    upstream: good
    rate_limit: {requests: 2, per: 1h}
  - {name: keyed, match: {path_prefix: /keyed}, upstream: good, auth: [api_key]}
  - {name: quota, match: {path_prefix: /quota}, upstream: good, auth: [api_key]}
  - {name: token, match: {path_prefix: /token}, upstream: good, auth: ["jwt:idp"]}
`, db, jwksServer(t), broken.URL, good.URL, down1.URL, down2.URL, good.URL, dead, slow.URL, sick.URL))
	g := testkit.Start(t, cfg)

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	t.Cleanup(hc.CloseIdleConnections)
	send := func(method, path, body string, headers ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, g.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	expect := func(want int, method, path, body string, headers ...string) {
		t.Helper()
		if got := send(method, path, body, headers...); got != want {
			t.Fatalf("%s %s = %d, want %d", method, path, got, want)
		}
	}

	// flaky: the broken target answers 503, each such attempt is retried
	// on the good one, and its second failure ejects it.
	for range 6 {
		expect(200, "GET", "/flaky", "")
	}
	// down: both targets answer 503; each request's one retry either
	// happens or is refused by the retry budget, which 40 requests in a
	// row spend (it holds 3 tokens, gains 3 a second and 0.2 a request).
	const downRequests = 40
	for range downRequests {
		expect(503, "GET", "/down", "")
	}
	expect(502, "GET", "/dead", "")
	expect(504, "GET", "/slow", "")
	expect(200, "POST", "/plain", strings.Repeat("x", 1000), "Content-Type: text/plain")
	expect(404, "GET", "/nowhere", "")
	for i := range 5 {
		want := 200
		if i >= 2 {
			want = 429
		}
		expect(want, "GET", "/limited", "")
	}
	expect(401, "GET", "/keyed", "")
	expect(401, "GET", "/keyed", "")
	expect(401, "GET", "/keyed", "", "X-API-Key: not-a-known-key-0000")
	key := "X-API-Key: acme-key-0123456789"
	expect(200, "GET", "/quota", "", key)
	expect(200, "GET", "/quota", "", key)
	expect(429, "GET", "/quota", "", key)
	expect(401, "GET", "/token", "", "Authorization: Bearer not.a.token")

	// A client that speaks plain HTTP to the TLS listener.
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: gantry\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()

	// What happens in the background (probes, the handshake's count, the
	// usage flush) gets a moment.
	var ss []sample
	var raw []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, raw = metricsOf(t, g)
		probes, _ := value(ss, "gantry_health_checks_total", "upstream", "probed", "target", sick.URL, "result", "failure")
		tlsErrs, _ := value(ss, "gantry_tls_handshake_errors_total", "listener", "client")
		_, lag := value(ss, "gantry_usage_flush_lag_seconds")
		if probes >= 1 && tlsErrs >= 1 && lag || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	exact := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gantry_upstream_request_duration_seconds_count", []string{"upstream", "flaky", "target", broken.URL}, 2},
		{"gantry_upstream_request_duration_seconds_count", []string{"upstream", "flaky", "target", good.URL}, 6},
		{"gantry_upstream_requests_total", []string{"upstream", "flaky", "target", broken.URL, "status", "503"}, 2},
		{"gantry_upstream_retries_total", []string{"upstream", "flaky", "reason", "503"}, 2},
		{"gantry_upstream_retry_budget_exhausted_total", []string{"upstream", "flaky"}, 0},
		{"gantry_upstream_ejections_total", []string{"upstream", "flaky", "target", broken.URL}, 1},
		{"gantry_upstream_healthy", []string{"upstream", "flaky", "target", broken.URL}, 0},
		{"gantry_upstream_requests_total", []string{"upstream", "dead", "target", dead, "status", "connect_error"}, 1},
		{"gantry_upstream_requests_total", []string{"upstream", "slow", "target", slow.URL, "status", "timeout"}, 1},
		{"gantry_ratelimit_decisions_total", []string{"route", "limited", "decision", "allowed"}, 2},
		{"gantry_ratelimit_decisions_total", []string{"route", "limited", "decision", "limited"}, 3},
		{"gantry_rate_limited_total", []string{"route", "limited"}, 3},
		{"gantry_ratelimit_decisions_total", []string{"route", "quota", "decision", "allowed"}, 2},
		{"gantry_ratelimit_decisions_total", []string{"route", "quota", "decision", "quota_exceeded"}, 1},
		{"gantry_auth_failures_total", []string{"route", "keyed", "method", "none", "reason", "missing"}, 2},
		{"gantry_auth_failures_total", []string{"route", "keyed", "method", "api_key", "reason", "invalid"}, 1},
		{"gantry_auth_failures_total", []string{"route", "token", "method", "jwt", "reason", "invalid"}, 1},
		{"gantry_request_size_bytes_count", []string{"route", "plain"}, 1},
		{"gantry_request_size_bytes_sum", []string{"route", "plain"}, 1000},
		{"gantry_response_size_bytes_count", []string{"route", "plain"}, 1},
		{"gantry_response_size_bytes_count", []string{"route", "limited"}, 5},
		{"gantry_requests_total", []string{"route", "(none)", "method", "GET", "status", "404"}, 1},
		{"gantry_tls_handshake_errors_total", []string{"listener", "client"}, 1},
		{"gantry_usage_flush_errors_total", nil, 0},
	}
	for _, tt := range exact {
		got, ok := value(ss, tt.name, tt.labels...)
		switch {
		case !ok:
			t.Errorf("%s%v missing", tt.name, tt.labels)
		case got != tt.want:
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"gantry_health_checks_total", []string{"upstream", "probed", "target", sick.URL, "result", "failure"}, 1},
		{"gantry_jwks_refresh_total", []string{"provider", "idp", "result", "success"}, 1},
		{"gantry_upstream_retry_budget_exhausted_total", []string{"upstream", "down"}, 1},
		{"gantry_connections_open", []string{"listener", "admin"}, 1},
		{"gantry_connections_open", []string{"listener", "client"}, 0},
		{"gantry_response_size_bytes_sum", []string{"route", "plain"}, 1},
		{"gantry_usage_flush_lag_seconds", nil, 0},
	}
	for _, tt := range atLeast {
		got, ok := value(ss, tt.name, tt.labels...)
		switch {
		case !ok:
			t.Errorf("%s%v missing", tt.name, tt.labels)
		case got < tt.min:
			t.Errorf("%s%v = %v, want at least %v", tt.name, tt.labels, got, tt.min)
		}
	}
	// Every request to down either retried or found the budget spent.
	retried, _ := value(ss, "gantry_upstream_retries_total", "upstream", "down", "reason", "503")
	refused, _ := value(ss, "gantry_upstream_retry_budget_exhausted_total", "upstream", "down")
	if retried+refused != downRequests {
		t.Errorf("down: %v retries + %v refused by the budget = %v, want %d", retried, refused, retried+refused, downRequests)
	}
	if lag, _ := value(ss, "gantry_usage_flush_lag_seconds"); lag > 30 {
		t.Errorf("gantry_usage_flush_lag_seconds = %v with storage up, want under 30", lag)
	}
	var build bool
	for _, s := range ss {
		if s.name == "gantry_build_info" && s.labels["go_version"] == runtime.Version() && s.labels["version"] != "" && s.value == 1 {
			build = true
		}
	}
	if !build {
		t.Errorf("gantry_build_info{go_version=%q} 1 missing", runtime.Version())
	}
	for _, s := range ss {
		if s.name == "gantry_upstream_requests_total" && s.labels["status"] == "0" {
			t.Errorf("attempt labelled status=\"0\": %v", s.labels)
		}
		if _, ok := s.labels["route"]; ok && s.labels["route"] == "" {
			t.Errorf("%s labelled route=\"\"", s.name)
		}
	}
	promtoolCheck(t, raw)
}

// TestMetricsRouteSeriesFollowReload: a route's series appear with its
// first request and go away when a reload removes the route; with
// route_histograms off, every route shares one histogram.
func TestMetricsRouteSeriesFollowReload(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - {name: orders, match: {path_prefix: /orders}, upstream: app, rate_limit: {requests: 100, per: 1s}}
  - {name: users, match: {path_prefix: /users}, upstream: app}
  - {name: idle, match: {path_prefix: /idle}, upstream: app}
`, e.URL)))
	for _, p := range []string{"/orders", "/users"} {
		if r := get(t, g.URL+p); r.Status != 200 {
			t.Fatalf("GET %s = %d", p, r.Status)
		}
	}
	ss, _ := metricsOf(t, g)
	if n := withLabel(ss, "route", "idle"); len(n) > 0 {
		t.Errorf("route idle has series before any request: %v", n)
	}
	if n := withLabel(ss, "route", "orders"); len(n) == 0 {
		t.Fatal("route orders has no series after a request")
	}
	rewriteConfig(t, g.ConfigPath, "  - {name: orders, match: {path_prefix: /orders}, upstream: app, rate_limit: {requests: 100, per: 1s}}\n", "")
	if status, body := g.Admin("POST", "/admin/reload", ""); status != 200 {
		t.Fatalf("reload = %d %s", status, body)
	}
	ss, raw := metricsOf(t, g)
	if n := withLabel(ss, "route", "orders"); len(n) > 0 {
		t.Errorf("series of the removed route orders remain: %v", n)
	}
	if v, ok := value(ss, "gantry_requests_total", "route", "users", "method", "GET", "status", "200"); !ok || v != 1 {
		t.Errorf("gantry_requests_total{route=users} = %v, %v; want 1", v, ok)
	}
	promtoolCheck(t, raw)
}

// TestMetricsRouteHistogramsOff: telemetry.metrics.route_histograms: false
// keeps one histogram of each kind for every route, and the counters per
// route.
func TestMetricsRouteHistogramsOff(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`telemetry:
  metrics: {route_histograms: false}
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - {name: orders, match: {path_prefix: /orders}, upstream: app}
  - {name: users, match: {path_prefix: /users}, upstream: app}
`, e.URL)))
	for _, p := range []string{"/orders", "/users", "/users"} {
		if r := get(t, g.URL+p); r.Status != 200 {
			t.Fatalf("GET %s = %d", p, r.Status)
		}
	}
	ss, _ := metricsOf(t, g)
	for _, name := range []string{"gantry_request_duration_seconds_count", "gantry_request_size_bytes_count", "gantry_response_size_bytes_count"} {
		if v, ok := value(ss, name, "route", "(all)"); !ok || v != 3 {
			t.Errorf("%s{route=\"(all)\"} = %v, %v; want 3", name, v, ok)
		}
		if _, ok := value(ss, name, "route", "users"); ok {
			t.Errorf("%s{route=\"users\"} exported with route_histograms off", name)
		}
	}
	if v, ok := value(ss, "gantry_requests_total", "route", "users", "method", "GET", "status", "200"); !ok || v != 2 {
		t.Errorf("gantry_requests_total{route=users} = %v, %v; want 2", v, ok)
	}
}
