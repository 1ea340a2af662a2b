package server

import (
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/route"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/usage"
	"go.opentelemetry.io/otel/trace"
)

// observe records a finished request in metrics, usage and the access log;
// admitted is what usage counts as admitted (see metered).
func (s *Server) observe(r *http.Request, x *pipeline.Exchange, rh *route.Route, admitted bool) {
	now := time.Now()
	d := now.Sub(x.Start)
	if rh != nil {
		rm := rh.Metrics()
		rm.Observe(r.Method, x.Status, d)
		rm.ObserveSizes(x.BytesIn, x.BytesOut)
		if l := x.LLM; l != nil {
			rm.LLM(l.Model, x.Status, admitted, l.InputTokens, l.OutputTokens, l.CachedTokens, l.FirstByte)
		}
		if s.meter != nil {
			rec := usage.FromExchange(x, now)
			rec.Admitted = admitted
			s.meter.Record(&rec)
		}
	} else {
		s.metrics.Unmatched(r.Method, x.Status, d)
		s.metrics.UnmatchedSizes(x.BytesIn, x.BytesOut)
	}
	if x.GRPCStatus != "" {
		s.grpcMetrics(rh).Observe(x.GRPCStatus)
	}
	if s.access == nil {
		return
	}
	e := telemetry.EntryFrom(x, r, d)
	if s.tracing != nil {
		sc := trace.SpanContextFromContext(r.Context())
		e.TraceID, e.SpanID = sc.TraceID(), sc.SpanID()
	}
	s.access.Log(&e)
}

// grpcMetrics returns the gantry_grpc_responses_total handle of rh, or of
// the requests no route matched (route "") when rh is nil.
func (s *Server) grpcMetrics(rh *route.Route) *telemetry.GRPCMetrics {
	if rh != nil {
		return rh.GRPCMetrics()
	}
	return s.metrics.GRPC("")
}
