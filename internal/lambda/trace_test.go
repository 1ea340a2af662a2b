package lambda

import (
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestInvocationSpan: the invocation gets a span under the request's, and
// the event's headers name it as parent.
func TestInvocationSpan(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, server := tp.Tracer("test").Start(t.Context(), "GET thumbs")

	api := newInvokeAPI(t, answerJSON(`{"statusCode":200,"body":"ok"}`))
	h := newHandler(t, api, nil, nil)
	r := httptest.NewRequest("GET", "http://api.example.com/thumbs/7", nil)
	r.Header.Set("Traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
	if _, err := serve(t, h, r.WithContext(ctx), &pipeline.Exchange{Path: "/7"}); err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	e := <-api.events
	server.End()

	var invoke sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "lambda invoke" {
			invoke = s
		}
	}
	if invoke == nil {
		t.Fatalf("no lambda invoke span among %d", len(rec.Ended()))
	}
	if invoke.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("lambda invoke parent %v, want the request's span", invoke.Parent().SpanID())
	}
	want := "00-" + server.SpanContext().TraceID().String() + "-" + invoke.SpanContext().SpanID().String() + "-01"
	if got := e.Headers["traceparent"]; got != want {
		t.Errorf("event headers.traceparent = %q, want %q", got, want)
	}
}
