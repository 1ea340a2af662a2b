package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestAttemptSpans: each attempt, on the direct path and through
// ReverseProxy, gets a span under the request's, numbered by retry; the
// upstream's traceparent names the attempt that reached it and replaces
// the client's.
func TestAttemptSpans(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	tests := []struct {
		name    string
		method  string
		body    string
		chunked bool // a body of unknown length takes ReverseProxy
	}{
		{name: "direct", method: http.MethodGet},
		{name: "reverse proxy", method: http.MethodPut, body: `{"a":1}`, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var got atomic.Value
			failing := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			healthy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				got.Store(r.Header.Get("Traceparent"))
				w.Write([]byte("ok"))
			})
			// Round robin from the first target: the failing one first.
			h := newProxy(t, &config.Upstream{Retries: 1}, nil, Options{}, failing.URL, healthy.URL)

			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			ctx, server := tp.Tracer("test").Start(t.Context(), "PUT items")
			r := httptest.NewRequest(tt.method, "/items/7", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
			w, err := call(h, r.WithContext(ctx), &pipeline.Exchange{})
			if err != nil || w.Code != 200 {
				t.Fatalf("call = %d, %v", w.Code, err)
			}
			server.End()
			var attempts []sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == tt.method {
					attempts = append(attempts, s)
				}
			}
			if len(attempts) != 2 || calls.Load() != 2 {
				t.Fatalf("%d attempt spans for %d upstream calls, want 2 and 2", len(attempts), calls.Load())
			}
			for i, a := range attempts {
				attrs := map[string]string{}
				for _, kv := range a.Attributes() {
					attrs[string(kv.Key)] = kv.Value.String()
				}
				if attrs["gantry.retry"] != []string{"0", "1"}[i] || attrs["http.response.status_code"] != []string{"503", "200"}[i] {
					t.Errorf("attempt %d: %v", i, attrs)
				}
				if a.Parent().SpanID() != server.SpanContext().SpanID() {
					t.Errorf("attempt %d parent %v, want the request's span", i, a.Parent().SpanID())
				}
			}
			want := "00-" + server.SpanContext().TraceID().String() + "-" + attempts[1].SpanContext().SpanID().String() + "-01"
			if tp := got.Load(); tp != want {
				t.Errorf("upstream traceparent = %v, want %q (the second attempt)", tp, want)
			}
		})
	}
}
