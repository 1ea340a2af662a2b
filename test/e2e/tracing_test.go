package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// tracingEnv makes the gateway's batch processor export every 50ms, so
// spans arrive quickly.
var tracingEnv = []string{"OTEL_BSP_SCHEDULE_DELAY=50"}

// span is one exported span with its resource's service.name.
type span struct {
	*tracepb.Span
	service string
}

func (s span) traceID() string  { return hex.EncodeToString(s.TraceId) }
func (s span) spanID() string   { return hex.EncodeToString(s.SpanId) }
func (s span) parentID() string { return hex.EncodeToString(s.ParentSpanId) }

func (s span) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return fmt.Sprint(v.IntValue)
		case *commonpb.AnyValue_BoolValue:
			return fmt.Sprint(v.BoolValue)
		}
	}
	return ""
}

// receiver is an in-process OTLP collector: it keeps every span exported
// to it, over OTLP/HTTP or OTLP/gRPC.
type receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []span
	requests int
	// Endpoint is what telemetry.tracing.endpoint names.
	Endpoint string
}

func (rc *receiver) add(req *coltracepb.ExportTraceServiceRequest) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	for _, rs := range req.ResourceSpans {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				rc.spans = append(rc.spans, span{sp, service})
			}
		}
	}
}

// Export is the OTLP/gRPC TraceService method.
func (rc *receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	rc.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// all returns the spans received so far.
func (rc *receiver) all() []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]span(nil), rc.spans...)
}

// trace waits until the spans of traceID include one for which each of
// want holds, and returns them.
func (rc *receiver) trace(t *testing.T, traceID string, want ...func([]span) bool) []span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []span
		for _, s := range rc.all() {
			if s.traceID() == traceID {
				got = append(got, s)
			}
		}
		ok := len(got) > 0
		for _, w := range want {
			ok = ok && w(got)
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: spans %s", traceID, describe(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// named returns a predicate: n spans named name.
func named(name string, n int) func([]span) bool {
	return func(ss []span) bool { return len(find(ss, name)) >= n }
}

func find(ss []span, name string) []span {
	var out []span
	for _, s := range ss {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func describe(ss []span) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s %s parent=%s kind=%v", s.Name, s.spanID(), s.parentID(), s.Kind)
	}
	return b.String()
}

// httpReceiver serves OTLP/HTTP (protobuf) on loopback.
func httpReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces, application/x-protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.add(&req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	rc.Endpoint = srv.URL
	return rc
}

// grpcReceiver serves OTLP/gRPC on loopback.
func grpcReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, rc)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	rc.Endpoint = "grpc://" + ln.Addr().String()
	return rc
}

// traceparent parses a W3C traceparent into its trace id, parent id and
// flags.
func traceparent(t *testing.T, v string) (traceID, parentID, flags string) {
	t.Helper()
	parts := strings.Split(v, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("traceparent %q is not a W3C traceparent", v)
	}
	return parts[1], parts[2], parts[3]
}

// tracingConfig has a route behind auth and a rate limit, and an aggregate
// whose two calls go to two upstreams.
func tracingConfig(t *testing.T, tracing string, app, users, orders string) string {
	db := filepath.Join(t.TempDir(), "gantry.db")
	return base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
telemetry:
%s
consumers:
  - id: acme
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  app: {targets: [{url: %q}]}
  users: {targets: [{url: %q}]}
  orders: {targets: [{url: %q}]}
routes:
  - name: items
    match: {path_prefix: /items}
    upstream: app
    auth: [api_key]
    rate_limit: {requests: 1000, per: 1m}
  - name: open
    match: {path_prefix: /open}
    upstream: app
  - name: dashboard
    match: {path: /dashboard}
    aggregate:
      calls:
        - {name: user, upstream: users, path: /user}
        - {name: orders, upstream: orders, path: /orders}
`, db, tracing, app, users, orders))
}

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	apiKey       = "X-API-Key: acme-key-0123456789"
)

// TestTracing runs the acceptance scenario against a collector over
// OTLP/HTTP and over OTLP/gRPC.
func TestTracing(t *testing.T) {
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			rc := httpReceiver(t)
			if proto == "grpc" {
				rc = grpcReceiver(t)
			}
			app, users, orders := testkit.NewEcho(t, "app"), testkit.NewEcho(t, "users"), testkit.NewEcho(t, "orders")
			g := testkit.Start(t, tracingConfig(t, fmt.Sprintf(`  tracing:
    exporter: otlp
    endpoint: %s
    sample_ratio: 1
    service_name: edge-gateway`, rc.Endpoint), app.URL, users.URL, orders.URL), tracingEnv...)

			// A client's sampled trace context: the server span joins it,
			// auth, the limit and the attempt are its children, and the
			// upstream's parent is the attempt.
			r := get(t, g.URL+"/items/7", apiKey, "traceparent: 00-"+clientTrace+"-"+clientParent+"-01")
			if r.Status != 200 {
				t.Fatalf("GET /items/7 = %d %s", r.Status, r.Body)
			}
			up := r.seen(t)
			tid, upParent, flags := traceparent(t, http.Header(up.Header).Get("Traceparent"))
			if tid != clientTrace || flags != "01" {
				t.Errorf("upstream traceparent trace %s flags %s, want %s 01", tid, flags, clientTrace)
			}
			spans := rc.trace(t, clientTrace, named("GET items", 1), named("auth", 1), named("rate_limit", 1), named("GET", 1))
			srv := find(spans, "GET items")[0]
			if srv.Kind != tracepb.Span_SPAN_KIND_SERVER || srv.parentID() != clientParent {
				t.Errorf("server span kind %v parent %s, want server, %s", srv.Kind, srv.parentID(), clientParent)
			}
			for k, want := range map[string]string{"http.request.method": "GET", "url.path": "/items/7", "http.route": "items",
				"gantry.route": "items", "gantry.consumer": "acme", "http.response.status_code": "200", "client.address": "127.0.0.1"} {
				if got := srv.attr(k); got != want {
					t.Errorf("server span %s = %q, want %q", k, got, want)
				}
			}
			if srv.attr("server.address") == "" || srv.service != "edge-gateway" {
				t.Errorf("server span server.address %q, service %q", srv.attr("server.address"), srv.service)
			}
			for _, name := range []string{"auth", "rate_limit", "GET"} {
				if s := find(spans, name)[0]; s.parentID() != srv.spanID() {
					t.Errorf("span %s has parent %s, want the server span %s", name, s.parentID(), srv.spanID())
				}
			}
			if d := find(spans, "rate_limit")[0].attr("gantry.ratelimit.decision"); d != "allowed" {
				t.Errorf("rate_limit decision %q, want allowed", d)
			}
			att := find(spans, "GET")[0]
			if att.Kind != tracepb.Span_SPAN_KIND_CLIENT || att.attr("gantry.retry") != "0" || att.attr("gantry.target") == "" {
				t.Errorf("attempt span kind %v retry %q target %q", att.Kind, att.attr("gantry.retry"), att.attr("gantry.target"))
			}
			if upParent != att.spanID() {
				t.Errorf("upstream's traceparent parent %s, want the attempt span %s", upParent, att.spanID())
			}

			// The access log names the trace and the server span.
			waitFor(t, func() bool {
				return strings.Contains(g.Stdout(), `"trace_id":"`+clientTrace+`","span_id":"`+srv.spanID()+`"`)
			}, "access log line with the trace and span ids")

			// An aggregate: one span per call, both upstreams in the trace.
			const aggTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
			if r := get(t, g.URL+"/dashboard", "traceparent: 00-"+aggTrace+"-"+clientParent+"-01"); r.Status != 200 {
				t.Fatalf("GET /dashboard = %d %s", r.Status, r.Body)
			}
			spans = rc.trace(t, aggTrace, named("GET dashboard", 1), named("aggregate call", 2))
			calls := map[string]string{}
			srv = find(spans, "GET dashboard")[0]
			for _, c := range find(spans, "aggregate call") {
				calls[c.attr("gantry.call")] = c.spanID()
				if c.parentID() != srv.spanID() {
					t.Errorf("call %s has parent %s, want the server span %s", c.attr("gantry.call"), c.parentID(), srv.spanID())
				}
			}
			for name, e := range map[string]*testkit.Echo{"user": users, "orders": orders} {
				seen := e.Requests()
				if len(seen) != 1 {
					t.Fatalf("upstream %s saw %d requests, want 1", name, len(seen))
				}
				tid, parent, _ := traceparent(t, http.Header(seen[0].Header).Get("Traceparent"))
				if tid != aggTrace || parent != calls[name] {
					t.Errorf("upstream of call %s saw trace %s parent %s, want %s and the call's span %s", name, tid, parent, aggTrace, calls[name])
				}
			}

			// No trace context: a new trace, sampled at ratio 1.
			r = get(t, g.URL+"/open/1", "X-Case: fresh")
			tid, upParent, flags = traceparent(t, http.Header(r.seen(t).Header).Get("Traceparent"))
			if tid == clientTrace || flags != "01" {
				t.Fatalf("fresh request's upstream traceparent trace %s flags %s, want a new sampled trace", tid, flags)
			}
			spans = rc.trace(t, tid, named("GET open", 1), named("GET", 1))
			if s := find(spans, "GET open")[0]; len(s.ParentSpanId) != 0 {
				t.Errorf("fresh request's server span has parent %s, want none", s.parentID())
			}
			if s := find(spans, "GET")[0]; s.spanID() != upParent {
				t.Errorf("fresh request's upstream parent %s, want the attempt span %s", upParent, s.spanID())
			}
		})
	}
}

// TestTracingSampleRatioZero: with sample_ratio 0, requests without a
// sampled parent export nothing, yet the upstream still gets a trace
// context (not sampled); a sampled parent is kept.
func TestTracingSampleRatioZero(t *testing.T) {
	rc := httpReceiver(t)
	app := testkit.NewEcho(t, "app")
	g := testkit.Start(t, tracingConfig(t, fmt.Sprintf(`  tracing:
    exporter: otlp
    endpoint: %s
    sample_ratio: 0`, rc.Endpoint), app.URL, app.URL, app.URL), tracingEnv...)

	for i := range 20 {
		r := get(t, g.URL+"/open/"+fmt.Sprint(i))
		if r.Status != 200 {
			t.Fatalf("GET = %d", r.Status)
		}
		if _, _, flags := traceparent(t, http.Header(r.seen(t).Header).Get("Traceparent")); flags != "00" {
			t.Fatalf("upstream traceparent flags %s, want 00 (not sampled)", flags)
		}
	}
	// A parent that says not sampled is not sampled either.
	get(t, g.URL+"/open/x", "traceparent: 00-"+clientTrace+"-"+clientParent+"-00")
	// A sampled parent is kept: once its spans are in, everything the
	// gateway exported before them is in too (one batch processor, in
	// order), and that must be nothing else.
	const kept = "6bf92f3577b34da6a3ce929d0e0e4738"
	get(t, g.URL+"/open/kept", "traceparent: 00-"+kept+"-"+clientParent+"-01")
	rc.trace(t, kept, named("GET open", 1))
	for _, s := range rc.all() {
		if s.traceID() != kept {
			t.Errorf("exported span %s of trace %s, want only trace %s", s.Name, s.traceID(), kept)
		}
	}
}

// TestTracingFromEnvironment: without a telemetry section, the standard
// OTEL_* variables turn tracing on.
func TestTracingFromEnvironment(t *testing.T) {
	rc := httpReceiver(t)
	app := testkit.NewEcho(t, "app")
	cfg := base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - {name: open, match: {path_prefix: /open}, upstream: app}
`, app.URL))
	g := testkit.Start(t, cfg, append(tracingEnv, "OTEL_EXPORTER_OTLP_ENDPOINT="+rc.Endpoint, "OTEL_SERVICE_NAME=edge-from-env",
		"OTEL_TRACES_SAMPLER=parentbased_always_on")...)
	r := get(t, g.URL+"/open/1")
	tid, _, _ := traceparent(t, http.Header(r.seen(t).Header).Get("Traceparent"))
	spans := rc.trace(t, tid, named("GET open", 1))
	if s := find(spans, "GET open")[0]; s.service != "edge-from-env" {
		t.Errorf("service.name %q, want edge-from-env", s.service)
	}
}

// TestTracingCollectorDown: an unreachable collector fails no request,
// slows none, and does not hold up shutdown beyond the grace period.
func TestTracingCollectorDown(t *testing.T) {
	for _, scheme := range []string{"http", "grpc"} {
		t.Run(scheme, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := ln.Addr().String()
			ln.Close()
			app := testkit.NewEcho(t, "app")
			cfg := strings.Replace(tracingConfig(t, fmt.Sprintf(`  tracing:
    exporter: otlp
    endpoint: %s://%s`, scheme, dead), app.URL, app.URL, app.URL),
				"server:\n", "server:\n  shutdown_grace: 2s\n", 1)
			g := testkit.Start(t, cfg, tracingEnv...)
			start := time.Now()
			for i := range 100 {
				r := get(t, g.URL+"/items/"+fmt.Sprint(i), apiKey)
				if r.Status != 200 {
					t.Fatalf("request %d with the collector down: %d %s", i, r.Status, r.Body)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("100 requests took %v with the collector down", d)
			}
			g.Signal(syscall.SIGTERM)
			if code := g.Wait(6 * time.Second); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
		})
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTracingOffPassesClientContext: with tracing off the gateway adds no
// trace context of its own; the client's reaches the upstream unchanged,
// on proxied routes and on every aggregate call.
func TestTracingOffPassesClientContext(t *testing.T) {
	app, users, orders := testkit.NewEcho(t, "app"), testkit.NewEcho(t, "users"), testkit.NewEcho(t, "orders")
	g := testkit.Start(t, tracingConfig(t, "  tracing: {exporter: none}", app.URL, users.URL, orders.URL),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1")
	tp := "00-" + clientTrace + "-" + clientParent + "-01"
	hdrs := []string{"traceparent: " + tp, "tracestate: vendor=1", "baggage: tenant=acme"}
	check := func(where string, h http.Header) {
		t.Helper()
		if h.Get("Traceparent") != tp || h.Get("Tracestate") != "vendor=1" || h.Get("Baggage") != "tenant=acme" {
			t.Errorf("%s saw traceparent %q tracestate %q baggage %q, want the client's", where,
				h.Get("Traceparent"), h.Get("Tracestate"), h.Get("Baggage"))
		}
	}
	r := get(t, g.URL+"/open/1", hdrs...)
	check("proxied upstream", r.seen(t).Header)
	if r := get(t, g.URL+"/dashboard", hdrs...); r.Status != 200 {
		t.Fatalf("GET /dashboard = %d %s", r.Status, r.Body)
	}
	for _, e := range []*testkit.Echo{users, orders} {
		check("aggregate call to "+e.Name, e.Requests()[0].Header)
	}
	// No trace context of the gateway's own for a client without one.
	if h := http.Header(get(t, g.URL+"/open/2").seen(t).Header); h.Get("Traceparent") != "" {
		t.Errorf("tracing off, the gateway sent traceparent %q", h.Get("Traceparent"))
	}
	waitFor(t, func() bool { return strings.Count(g.Stdout(), `"request_id"`) >= 3 }, "three access log lines")
	if strings.Contains(g.Stdout(), "trace_id") {
		t.Errorf("tracing off, the access log has trace ids:\n%s", g.Stdout())
	}
}
