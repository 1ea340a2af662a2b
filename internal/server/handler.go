package server

import (
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
	"github.com/gantry-dev/gantry/internal/route"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/wire"
	"go.opentelemetry.io/otel/trace"
)

// ServeHTTP is the top of the request path. It reads top to bottom: hygiene,
// exchange, route match, route chain; then one error renderer and one
// observation for every request.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	// The gateway's own HTTP/1.1 engine builds each request's context
	// with an Exchange in it already (engineContext), which saves copying
	// the request to carry one.
	x := pipeline.ExchangeOf(r)
	if x == nil {
		x = &pipeline.Exchange{}
	}
	if x.Start.IsZero() {
		// Not the engine's (net/http's server, HTTP/2): the request
		// starts here.
		x.Start = time.Now()
	}
	x.ID = requestID(r, s.ids)
	x.TLS = r.TLS != nil
	// The canonical key set directly: Set would canonicalise
	// "X-Request-ID" into a new string on every request.
	rw.Header()["X-Request-Id"] = x.IDValues()
	if s.tracing != nil {
		r = s.traced(r, x)
	}

	w := writerPool.Get().(*responseWriter)
	*w = responseWriter{ResponseWriter: rw, kind: rpcKindOf(r.Header)}
	s.metrics.RequestStarted()
	var rh *route.Route
	var err error
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			s.log.Error("panic serving request", "request_id", x.ID, "panic", p, "stack", string(debug.Stack()))
			err = pipeline.Errorf(http.StatusInternalServerError, pipeline.CodeInternal, "internal error")
		}
		s.finish(w, r, x, rh, err, p != nil)
	}()
	rh, err = s.serve(w, r, x)
}

// serve is the request path proper: hygiene, route match, route chain.
func (s *Server) serve(w *responseWriter, r *http.Request, x *pipeline.Exchange) (*route.Route, error) {
	// Only a trusted proxy may tell the gateway about the client's
	// connection; the hygiene drops what anyone else says of it.
	err := checkRequest(r, !forward.TrustedPeer(r, s.trusted), wire.Names(x.HeaderNames))
	// After the hygiene, which may have removed a hop-by-hop
	// X-Forwarded-For; before the answer, so that even a refused request
	// is logged with its client's address.
	x.ClientIP = forward.ClientIP(r, s.trusted)
	if err != nil {
		return nil, err
	}
	// Shed before any routing or plugin work, so an overloaded gateway
	// spends as little as it can on what it refuses.
	if !s.admit.acquire() {
		s.metrics.RequestShed()
		return nil, errOverloaded
	}
	defer s.admit.release()
	path, encodedSlash, err := wire.CanonicalPath(r)
	if err != nil {
		return nil, pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "invalid request path: %v", err)
	}
	x.Path, x.RequestPath = path, path
	// Routes are matched, and their auth chosen, without matrix
	// parameters, as Tomcat, Jetty or Spring read the path.
	match := wire.StripMatrixParams(path)
	host := hostOf(r)
	g := s.gen.Load()
	if cors.IsPreflight(r) {
		if err, ok := s.preflight(w, r, g, host, match, x); ok {
			return nil, err
		}
	}
	res := g.table.MatchBuf(r, host, match, x.ParamBuf())
	switch res.Status {
	case http.StatusNotFound:
		if encodedSlash {
			return nil, errEncodedSlash
		}
		return nil, errNotFound
	case http.StatusMethodNotAllowed:
		e := pipeline.Errorf(http.StatusMethodNotAllowed, pipeline.CodeMethodNotAllowed, "method %s not allowed here", sanitizeMethod(r.Method))
		e.Header = http.Header{"Allow": {res.Allow}}
		return nil, e
	}
	rt := res.Route
	rh := g.routes[rt.Index]
	x.RouteName = rt.Name
	if rh.CORS != nil {
		// From here on every answer is the route's, the gateway's errors
		// included: the writer applies its CORS policy to each.
		w.cors, w.origin = rh.CORS, r.Header.Get("Origin")
	}
	x.Params = res.Params
	x.Version = res.Version
	if encodedSlash && !rt.Config.AllowEncodedSlash {
		return rh, errEncodedSlash
	}
	matrix := len(match) != len(path)
	if matrix && !rt.Config.AllowMatrixParams {
		return rh, errMatrixParams
	}
	x.Path = rt.ForwardPath(&res)
	if matrix {
		x.Path = wire.MatrixSuffix(path, x.Path)
	}
	if rh.Units != "" {
		w.units, w.x = rh.Units, x
	}
	if r.ProtoMajor == 2 {
		// Go's HTTP/2 server starts this handler on a goroutine that
		// usually runs before the connection's frame loop reads on; a
		// RST_STREAM sent right after the request would only be seen once
		// the request went upstream. Yielding once lets the loop process
		// the frames already received first.
		runtime.Gosched()
	}
	if r.Context().Err() != nil {
		// An HTTP/2 stream the client reset before its handler started
		// (or a client gone meanwhile): nothing may reach the upstream.
		return rh, errClientGone
	}
	// Under net/http the chain gets a copy: the server's own request must
	// keep its body type, or Go would read (and 100-continue) a body
	// nobody asked for before sending an early answer such as 401. The
	// gateway's engine keeps its own reference to the body, and its
	// request carries the Exchange already.
	out := r
	if pipeline.ExchangeOf(r) != x {
		out = r.WithContext(pipeline.WithExchange(r.Context(), x))
	}
	if out.Body != nil && out.Body != http.NoBody {
		w.body = &countBody{ReadCloser: out.Body}
		out.Body = w.body
	}
	return rh, rh.ServeHTTP(w, out)
}

// finish renders a failure, observes the request once, and aborts the
// connection when a response that had started cannot be completed.
func (s *Server) finish(w *responseWriter, r *http.Request, x *pipeline.Exchange, rh *route.Route, err error, panicked bool) {
	started := w.wroteHeader
	// What the chain sent; an error the renderer answers is recorded with
	// its own status, which a gRPC call receives as a grpc-status under
	// HTTP 200: the access log, metrics and metering see the 429, not the
	// 200.
	sent := 0
	if started {
		sent = w.status
	}
	kind := w.kind
	if err != nil {
		writeError(w, x, err, kind)
	}
	// The one place Status and Err are written.
	x.Status, x.Err = pipeline.Outcome(sent, err)
	if kind != notRPC {
		x.GRPCStatus = grpcOutcome(w, kind, x.Status)
	}
	x.BytesIn, x.BytesOut = w.bytesIn(), w.bytesOut()
	wrote := w.wroteHeader
	s.metrics.RequestDone()
	s.observe(r, x, rh, metered(x, err))
	if s.tracing != nil {
		telemetry.EndServer(trace.SpanFromContext(r.Context()), r.Method, x)
	}
	*w = responseWriter{}
	writerPool.Put(w)
	if (err != nil || panicked) && started && x.Status != pipeline.StatusClientClosed {
		// The response had started when it failed: the client must not take
		// a truncated body for a whole one.
		panic(http.ErrAbortHandler)
	}
	if x.Status == pipeline.StatusClientClosed && !wrote {
		// Recorded as gone, answered nothing: returning would let net/http
		// send an empty 200 to a client that may still read (one whose
		// connection died under its body read, say).
		panic(http.ErrAbortHandler)
	}
}

// metered reports whether a request counts as admitted in usage metering:
// it passed every gate (x.Admitted), and the gateway did not refuse its body
// (over the limit while it streamed, or the client's body failed), which is
// never billed. It is the one place that decision is made.
func metered(x *pipeline.Exchange, err error) bool {
	if !x.Admitted {
		return false
	}
	e, ok := err.(*pipeline.HTTPError)
	if !ok {
		return true
	}
	var be *pipeline.BodyError
	return e.Code != pipeline.CodeBodyTooLarge && !errors.As(err, &be)
}

// preflight routes a CORS preflight as the request it announces; when that
// route has a CORS policy, the gateway answers it.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, g *generation, host, path string, x *pipeline.Exchange) (error, bool) {
	announced := *r
	announced.Method = strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))
	res := g.table.Match(&announced, host, path)
	if res.Route == nil {
		return nil, false
	}
	rh := g.routes[res.Route.Index]
	if rh.CORS == nil {
		return nil, false
	}
	x.RouteName = res.Route.Name
	return rh.CORS.Preflight(w, r), true
}

var errEncodedSlash = pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "encoded slash or backslash in path")

var errMatrixParams = pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "matrix parameters (;) in path")

var errH2Path = pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, `HTTP/2 :path must be a path starting with "/"`)

var errLowerMethod = pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "request method must be upper case")

// lowerMethod reports whether m holds a lower-case ASCII letter.
func lowerMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if 'a' <= m[i] && m[i] <= 'z' {
			return true
		}
	}
	return false
}

var errClientGone = &pipeline.HTTPError{Status: pipeline.StatusClientClosed, Code: pipeline.CodeClientClosed, Message: "the client went away before the request was sent"}

var errNotFound = pipeline.Errorf(http.StatusNotFound, pipeline.CodeNotFound, "no route matches the request")

// checkRequest applies the request hygiene that precedes routing. For a
// peer that is not a trusted proxy (untrusted), it also drops the fields
// that speak about the client's connection (wire.DropForwarding). names
// is what the serving engine found among the field names (0 when not
// known).
func checkRequest(r *http.Request, untrusted bool, names wire.Names) error {
	if err := wire.Check(r); err != nil {
		return err
	}
	if r.ProtoMajor == 2 && !strings.HasPrefix(r.RequestURI, "/") {
		// RFC 9113 §8.3.1: ":path" is an origin-form path (or "*" for
		// OPTIONS, which the gateway does not serve); an absolute URI
		// there is malformed, and Go's server would route its path.
		return errH2Path
	}
	if lowerMethod(r.Method) {
		// Methods are case-sensitive (RFC 9110 §9.1): "delete" is not
		// DELETE to the router, so it would pass a route that protects
		// DELETE, yet Django, Werkzeug and Symfony upper-case the method
		// and serve it as DELETE ("trace" as TRACE). NGINX refuses such
		// methods with 400; so does the gateway.
		return errLowerMethod
	}
	if r.Method == http.MethodConnect {
		e := pipeline.Errorf(http.StatusMethodNotAllowed, pipeline.CodeMethodNotAllowed, "CONNECT is not supported")
		e.Header = http.Header{"Allow": {"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"}}
		return e
	}
	// Before anything sets a header of the gateway's own: what the client
	// named in Connection must not take those with it.
	wire.SanitizeNames(r.Header, untrusted, names)
	return nil
}

// hostOf returns the host the client addressed in the canonical form
// match.hosts entries are compiled to (wire.SplitHost), "" when the Host
// names none (no host-bound route matches it then). For an absolute-form
// target the serving engine has already put its authority in r.Host.
func hostOf(r *http.Request) string {
	h, _, _ := wire.SplitHost(r.Host)
	return h
}

// sanitizeMethod keeps error messages free of hostile bytes.
func sanitizeMethod(m string) string {
	if len(m) > 16 {
		return m[:16] + "..."
	}
	return m
}
