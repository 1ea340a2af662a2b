package route

import (
	"context"
	"errors"
	"net/http"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// stepSpan is the span of one step of a request, and the context the step
// was called with, which the rest of the chain gets back.
type stepSpan struct {
	span   trace.Span
	parent context.Context
}

type stepSpanKey struct{}

// traced wraps a step's middleware in a span named after the step that
// covers the step's own work only: the span ends when the step hands the
// request on (or returns), and the rest of the chain runs under the
// span the step was called under. A request whose span does not record
// (not sampled) goes through untouched.
func traced(name string, mw pipeline.Middleware) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		// Called by the step when it lets the request through.
		handOn := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if st, ok := r.Context().Value(stepSpanKey{}).(*stepSpan); ok {
				endStep(name, st.span, r, nil)
				r = r.WithContext(st.parent)
			}
			return next.ServeHTTP(w, r)
		})
		step := mw(handOn)
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ctx, sp := telemetry.Child(r.Context(), name, trace.SpanKindInternal)
			if sp == nil {
				return step.ServeHTTP(w, r)
			}
			st := &stepSpan{span: sp, parent: r.Context()}
			err := step.ServeHTTP(w, r.WithContext(context.WithValue(ctx, stepSpanKey{}, st)))
			if sp.IsRecording() {
				// The step refused the request (or failed) without
				// handing it on.
				endStep(name, sp, r, err)
			}
			return err
		})
	}
}

// endStep records what a step decided and ends its span; err is the
// step's refusal, nil when it let the request through.
func endStep(name string, sp trace.Span, r *http.Request, err error) {
	x := pipeline.ExchangeOf(r)
	switch name {
	case "auth":
		if x != nil && x.Consumer != nil {
			sp.SetAttributes(attribute.String("gantry.consumer", x.Consumer.ID))
		}
		if err == nil {
			sp.SetAttributes(attribute.String("gantry.auth.result", "ok"))
		}
	case "rate_limit":
		decision := "allowed"
		if he, ok := errors.AsType[*pipeline.HTTPError](err); ok {
			switch he.Code {
			case pipeline.CodeQuotaExceeded:
				decision = "quota_exceeded"
			case pipeline.CodeRateLimited:
				decision = "limited"
			default:
				decision = he.Code
			}
		}
		sp.SetAttributes(attribute.String("gantry.ratelimit.decision", decision))
	}
	he, ok := errors.AsType[*pipeline.HTTPError](err)
	if ok {
		sp.SetAttributes(attribute.String("gantry.error", he.Code), attribute.Int("http.response.status_code", he.Status))
	}
	// A refusal (401, 429) is the step's decision, not its failure; a
	// failure to decide (a counter backend down) is.
	if err != nil && (!ok || he.Status >= 500) {
		telemetry.EndChild(sp, err)
		return
	}
	sp.End()
}
