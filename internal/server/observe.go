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
		rh.Metrics().Observe(r.Method, x.Status, d)
		if s.meter != nil {
			rec := usage.FromExchange(x, now)
			rec.Admitted = admitted
			s.meter.Record(&rec)
		}
	} else {
		s.metrics.Unmatched(r.Method, x.Status, d)
	}
	if s.access == nil {
		return
	}
	e := telemetry.Entry{
		Time:      x.Start,
		RequestID: x.ID,
		Route:     x.RouteName,
		Method:    r.Method,
		Path:      r.URL.Path,
		Status:    x.Status,
		BytesIn:   x.BytesIn,
		BytesOut:  x.BytesOut,
		Duration:  d,
		Upstream:  x.Upstream,
		Target:    x.Target,
		ClientIP:  x.ClientIP,
		UserAgent: r.UserAgent(),
		Partial:   x.Partial,
	}
	if x.Consumer != nil {
		e.Consumer = x.Consumer.ID
	}
	if x.Err != nil {
		e.Error = x.Err.Error()
	}
	if s.tracing != nil {
		sc := trace.SpanContextFromContext(r.Context())
		e.TraceID, e.SpanID = sc.TraceID(), sc.SpanID()
	}
	s.access.Log(&e)
}
