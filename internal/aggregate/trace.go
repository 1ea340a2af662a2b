package aggregate

import (
	"context"
	"net/http"

	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// startCall starts call c's span, a child of the request's span, when that
// one records; otherwise it returns ctx and nil, having allocated nothing.
func startCall(ctx context.Context, c *call) (context.Context, trace.Span) {
	ctx, sp := telemetry.Child(ctx, "aggregate call", trace.SpanKindClient)
	if sp != nil {
		sp.SetAttributes(attribute.String("gantry.call", c.name), attribute.String("gantry.upstream", c.pool.Name),
			attribute.String("http.request.method", c.method))
	}
	return ctx, sp
}

// endCall ends a call's span with its failure, if any.
func endCall(sp trace.Span, err error) {
	if err != nil {
		sp.SetAttributes(attribute.Bool("gantry.call.failed", true))
	}
	telemetry.EndChild(sp, err)
}

// injectCall gives req, an attempt of a call, the trace context of ctx:
// the call's span as parent (or the request's, not sampled). The header
// is shared by the request's calls, so it is copied first; with tracing
// off nothing happens and the calls carry the client's trace context
// (passTraceContext).
func injectCall(ctx context.Context, req *http.Request, t *upstream.Target) (injected bool) {
	if !telemetry.Injects(ctx) {
		return false
	}
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.AddEvent("attempt", trace.WithAttributes(attribute.String("gantry.target", t.Name)))
	}
	req.Header = req.Header.Clone()
	telemetry.Inject(ctx, req.Header)
	return true
}

// traceHeaders are the trace context fields a call passes on from the
// client's request, as the proxy does for proxied routes.
var traceHeaders = []string{"Traceparent", "Tracestate", "Baggage", "B3"}

// passTraceContext copies the client's trace context fields from in to hd.
func passTraceContext(hd, in http.Header) {
	for _, k := range traceHeaders {
		if v, ok := in[k]; ok {
			hd[k] = v
		}
	}
}
