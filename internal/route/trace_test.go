package route

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTracedStep(t *testing.T) {
	t.Parallel()
	limited := pipeline.Errorf(http.StatusTooManyRequests, pipeline.CodeRateLimited, "rate limit exceeded")
	tests := []struct {
		name     string
		refuse   error
		decision string
	}{
		{name: "allowed", decision: "allowed"},
		{name: "limited", refuse: limited, decision: "limited"},
		{name: "quota", refuse: pipeline.Errorf(http.StatusTooManyRequests, pipeline.CodeQuotaExceeded, "quota"), decision: "quota_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			ctx, server := tp.Tracer("test").Start(t.Context(), "GET items")
			step := func(next pipeline.Handler) pipeline.Handler {
				return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					if tt.refuse != nil {
						return tt.refuse
					}
					return next.ServeHTTP(w, r)
				})
			}
			var nextRan bool
			term := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				nextRan = true
				// The step's span ended when it handed on, and what comes
				// after runs under the server span again.
				if len(rec.Ended()) != 1 {
					t.Errorf("spans ended before the terminal: %d, want 1", len(rec.Ended()))
				}
				if got := trace.SpanFromContext(r.Context()); got != server {
					t.Errorf("terminal runs under %v, want the server span", got.SpanContext().SpanID())
				}
				return nil
			})
			x := &pipeline.Exchange{}
			r := httptest.NewRequest(http.MethodGet, "/items", nil)
			r = r.WithContext(pipeline.WithExchange(ctx, x))
			err := traced("rate_limit", step)(term).ServeHTTP(httptest.NewRecorder(), r)
			if err != tt.refuse {
				t.Fatalf("ServeHTTP() = %v, want %v", err, tt.refuse)
			}
			if nextRan != (tt.refuse == nil) {
				t.Errorf("terminal ran = %v", nextRan)
			}
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("ended spans = %d, want 1", len(ended))
			}
			sp := ended[0]
			if sp.Name() != "rate_limit" || sp.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Errorf("span %q parent %v, want rate_limit under the server span", sp.Name(), sp.Parent().SpanID())
			}
			var decision string
			for _, kv := range sp.Attributes() {
				if kv.Key == "gantry.ratelimit.decision" {
					decision = kv.Value.AsString()
				}
			}
			if decision != tt.decision {
				t.Errorf("decision %q, want %q", decision, tt.decision)
			}
		})
	}
}

// TestTracedStepNotRecording: a request whose span does not record goes
// through the step as it came.
func TestTracedStepNotRecording(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/items", nil)
	var got *http.Request
	step := func(next pipeline.Handler) pipeline.Handler { return next }
	term := pipeline.HandlerFunc(func(w http.ResponseWriter, rr *http.Request) error { got = rr; return nil })
	if err := traced("auth", step)(term).ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	if got != r {
		t.Error("the request was copied for a request without a recording span")
	}
}
