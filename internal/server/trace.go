package server

import (
	"net/http"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// traced starts r's server span (tracing is on) and returns the request
// the rest of the path serves: a copy whose context carries the span and
// x. It is the one copy of the request tracing costs; with tracing off
// nothing here runs. The span ends in finish, after the answer.
func (s *Server) traced(r *http.Request, x *pipeline.Exchange) *http.Request {
	ctx, _ := s.tracing.StartServer(r)
	if pipeline.ExchangeOf(r) != x {
		ctx = pipeline.WithExchange(ctx, x)
	}
	return r.WithContext(ctx)
}
