package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"go.opentelemetry.io/otel/trace"
)

func TestAccessLogTraceIDs(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	e := Entry{Time: start, RequestID: "01JD5Z", Method: "GET", Path: "/", Status: 200, TraceID: tid, SpanID: sid}
	got := decodeLine(t, logOne(t, &e))
	if got["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || got["span_id"] != "00f067aa0ba902b7" {
		t.Errorf("trace_id %v span_id %v, want the span's ids", got["trace_id"], got["span_id"])
	}
	e = Entry{Time: start, RequestID: "01JD5Z", Method: "GET", Path: "/", Status: 200}
	got = decodeLine(t, logOne(t, &e))
	if _, ok := got["trace_id"]; ok {
		t.Errorf("line without a span has trace_id %v", got["trace_id"])
	}
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// NewTracing sets the otel package's global propagator: these tests do not
// run in parallel.
func TestNewTracingOnOrOff(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *config.Tracing
		env     map[string]string
		on      bool
		wantErr string
	}{
		{name: "nothing set", on: false},
		{name: "env endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "env traces endpoint over grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{name: "env exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, on: false},
		{name: "env sdk disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, on: false},
		{name: "env unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "otlp or none"},
		{name: "env unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "grpc or http/protobuf"},
		{name: "env unknown propagator", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_PROPAGATORS": "xray"}, wantErr: "unknown propagator"},
		{name: "config none wins over env", cfg: &config.Tracing{Exporter: "none"}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: false},
		{name: "config otlp http", cfg: &config.Tracing{Exporter: "otlp", Endpoint: "http://127.0.0.1:4318"}, on: true},
		{name: "config otlp grpc", cfg: &config.Tracing{Exporter: "otlp", Endpoint: "grpc://127.0.0.1:4317", Propagators: []string{"b3multi"}}, on: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), TracingOptions{Config: tt.cfg, Getenv: env(tt.env)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewTracing() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tr != nil; got != tt.on {
				t.Fatalf("tracing on = %v, want %v", got, tt.on)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// TestTracingPropagation: the server span continues the client's trace,
// children are made only under a recording span, and Inject writes the
// child as parent (or nothing without a span).
func TestTracingPropagation(t *testing.T) {
	ratio := 1.0
	tr, err := NewTracing(context.Background(), TracingOptions{Config: &config.Tracing{
		Exporter: "otlp", Endpoint: "http://127.0.0.1:1", SampleRatio: &ratio, Propagators: []string{"tracecontext", "baggage", "b3"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		tr.Shutdown(ctx)
	}()

	// Without a span nothing is made and nothing injected.
	h := http.Header{"Traceparent": {"client's"}}
	if _, sp := Child(context.Background(), "auth", trace.SpanKindInternal); sp != nil {
		t.Errorf("Child without a parent span = %v, want nil", sp)
	}
	Inject(context.Background(), h)
	if got := h.Get("Traceparent"); got != "client's" {
		t.Errorf("Inject without a span changed traceparent to %q", got)
	}

	r := httptest.NewRequest(http.MethodGet, "/items/7", nil)
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.Header.Set("Baggage", "tenant=acme")
	ctx, srv := tr.StartServer(r)
	if got := srv.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span trace %s, want the client's", got)
	}
	cctx, child := Child(ctx, "GET", trace.SpanKindClient)
	if child == nil {
		t.Fatal("Child under a recording span = nil")
	}
	Inject(cctx, h)
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + child.SpanContext().SpanID().String() + "-01"
	if got := h.Get("Traceparent"); got != want {
		t.Errorf("injected traceparent %q, want %q", got, want)
	}
	if got := h.Get("Baggage"); got != "tenant=acme" {
		t.Errorf("injected baggage %q, want tenant=acme", got)
	}
	if got := h.Get("B3"); !strings.HasPrefix(got, "4bf92f3577b34da6a3ce929d0e0e4736-"+child.SpanContext().SpanID().String()) {
		t.Errorf("injected b3 %q, want the child span", got)
	}
	child.End()
	srv.End()

	// A parent that says not sampled: no child spans, the upstream is
	// told not sampled.
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	ctx, srv = tr.StartServer(r)
	if srv.IsRecording() {
		t.Error("server span under an unsampled parent records")
	}
	if _, sp := Child(ctx, "auth", trace.SpanKindInternal); sp != nil {
		t.Error("Child under an unsampled span made a span")
	}
	h = http.Header{}
	Inject(ctx, h)
	if got := h.Get("Traceparent"); !strings.HasSuffix(got, "-00") || !strings.Contains(got, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("unsampled traceparent %q, want the trace, not sampled", got)
	}
}
