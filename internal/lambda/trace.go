package lambda

import (
	"context"
	"net/http"

	"github.com/gantry-dev/gantry/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// startSpan starts the invocation's span, a child of r's span, when that
// one records; otherwise it returns nil, having allocated nothing.
func (h *handler) startSpan(r *http.Request) (context.Context, trace.Span) {
	ctx, sp := telemetry.Child(r.Context(), "lambda invoke", trace.SpanKindClient)
	if sp != nil {
		sp.SetAttributes(attribute.String("faas.invoked_name", h.function), attribute.String("faas.invoked_provider", "aws"),
			attribute.String("gantry.upstream", h.upstream))
	}
	return ctx, sp
}

// endSpan ends the invocation's span with its failure, if any.
func endSpan(sp trace.Span, err error) { telemetry.EndChild(sp, err) }
