package proxy

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"

	"github.com/gantry-dev/gantry/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// startSpan starts attempt a's span, a child of the request's span, when
// that one records. With tracing off or the request not sampled it costs
// a context lookup and allocates nothing.
func (h *handler) startSpan(a *attempt) {
	ctx, sp := telemetry.Child(a.in.Context(), a.in.Method, trace.SpanKindClient)
	if sp == nil {
		return
	}
	a.trace = &attemptTrace{span: sp, ctx: ctx}
	t := a.target
	sp.SetAttributes(
		attribute.String("http.request.method", a.in.Method),
		attribute.String("server.address", t.Addr),
		attribute.String("gantry.upstream", h.pool.Name),
		attribute.String("gantry.target", t.Name),
		// 0 for the first attempt, 1 for the first retry, and so on.
		attribute.Int("gantry.retry", a.at.N()-1),
	)
}

// attemptTrace is a traced attempt's span and the context carrying it,
// whose trace context is sent upstream.
type attemptTrace struct {
	span trace.Span
	ctx  context.Context
}

// endSpan records how attempt a ended and ends its span.
func (a *attempt) endSpan() {
	sp := a.trace.span
	if a.status != 0 {
		sp.SetAttributes(attribute.Int("http.response.status_code", a.status))
	}
	cause := a.err
	if cause == nil {
		cause = a.res.err
	}
	switch {
	case cause != nil:
		sp.SetStatus(codes.Error, cause.Error())
	case a.status >= 500:
		sp.SetStatus(codes.Error, http.StatusText(a.status))
	}
	if a.next != nil {
		sp.SetAttributes(attribute.Bool("gantry.retried", true))
	}
	sp.End()
}

// inject writes the trace context upstream into hd: the attempt's span as
// parent, or, for a request not sampled, the request's span (its flags say
// not sampled). With tracing off nothing is written and the client's trace
// headers pass as they came.
func (a *attempt) inject(hd http.Header) {
	telemetry.Inject(a.traceContext(), hd)
}

// injects reports whether inject adds trace context headers.
func (a *attempt) injects() bool { return telemetry.Injects(a.traceContext()) }

// traceContext is the context whose span the upstream request continues:
// the attempt's span when it has one, else the client request's.
func (a *attempt) traceContext() context.Context {
	if a.trace != nil {
		return a.trace.ctx
	}
	return a.in.Context()
}

// traceConnection adds the connection's milestones to ct as events of
// the attempt's span: connection taken (reused or not), TCP connected,
// TLS done, request written, first response byte.
func (a *attempt) traceConnection(ct *httptrace.ClientTrace) {
	sp := a.trace.span
	ct.GotConn = func(info httptrace.GotConnInfo) {
		sp.AddEvent("got_conn", trace.WithAttributes(attribute.Bool("reused", info.Reused)))
	}
	ct.ConnectDone = func(network, addr string, err error) {
		if err != nil {
			sp.AddEvent("connect_failed", trace.WithAttributes(attribute.String("error", err.Error())))
			return
		}
		sp.AddEvent("connected")
	}
	ct.TLSHandshakeDone = func(_ tls.ConnectionState, err error) {
		if err == nil {
			sp.AddEvent("tls_done")
		}
	}
	ct.WroteRequest = func(httptrace.WroteRequestInfo) { sp.AddEvent("request_sent") }
	ct.GotFirstResponseByte = func() { sp.AddEvent("first_byte") }
}
