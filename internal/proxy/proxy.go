package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"net/url"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Options carries what every proxy handler of a server shares.
type Options struct {
	// TrustedProxies are the peers whose X-Forwarded-For is kept (see
	// ParseTrusted). Empty trusts nobody.
	TrustedProxies []netip.Prefix
	// Transports is the server's shared registry. When nil, the handler gets
	// a private one (tests); it never falls back to http.DefaultTransport.
	Transports *Transports
	// EscapePath escapes the unescaped forward path for the upstream URL.
	// Default: (&url.URL{Path: p}).EscapedPath().
	EscapePath func(string) string
	// Logger receives ReverseProxy's own diagnostics at debug level.
	// Default: discard.
	Logger *slog.Logger
	// Relays, when set, holds the ReverseProxies and upstream sides the
	// routes of a generation share (see Relays); nil gives the handler
	// its own. Handlers built with one Relays must get the same Options.
	Relays *Relays
	// Metrics, when set, receives the proxy's own metrics (WebSocket
	// connections).
	Metrics *telemetry.Metrics
	// WebSockets, when set, tracks the upgraded connections so the server
	// can close them on shutdown and when a reload removes their route.
	WebSockets *WebSockets
	// TLS is the upstream's tls block as LoadClientTLS loaded it; required
	// when the upstream has one, nil otherwise.
	TLS *ClientTLS
}

// handler is the proxy terminal of one route. What the routes of one
// upstream have in common lives in their shared upstreamSide, so a
// handler holds only what is the route's own.
type handler struct {
	*upstreamSide
	reqRules *forward.Rules
	resRules *forward.Rules
	// route names the route in metrics and the WebSocket registry.
	route    string
	wsLimits wsLimits
	// retryAny is the route's retry_non_idempotent opt-in.
	retryAny bool
}

// upstreamSide is what the proxy handlers of one upstream (and transport)
// share within a generation: it is decided by the pool, the upstream's
// configuration and the Options, never by the route. Immutable once
// built.
type upstreamSide struct {
	pool *upstream.Pool
	// rp serves http:// and https:// targets, rpH2C h2c:// targets (nil
	// when the pool has none): a ReverseProxy has one Transport.
	rp, rpH2C *httputil.ReverseProxy
	// fast is the HTTP/1.1 client of the direct path (direct.go); nil
	// sends everything through rp. It takes https:// targets only for an
	// upstream of protocol http1 (see directTarget).
	fast    *h1.Transport
	trusted []netip.Prefix
	escape  func(string) string
	// retries is the upstream's extra attempts.
	retries    int
	websockets *WebSockets
	// clock is the monotonic clock of WebSocket limits and durations.
	clock func() time.Duration
	// metrics is nil without metrics. The route's WebSocket handle is
	// looked up when first needed, not here: most routes never upgrade,
	// and a table of 10,000 routes would otherwise hold 10,000 idle
	// handles.
	metrics *telemetry.Metrics
}

var _ pipeline.Handler = (*handler)(nil)

// bodySettle bounds the wait for the transport to finish with a request
// body whose client went away or timed out (requestBody.settle); only such
// requests wait.
const bodySettle = 100 * time.Millisecond

// New returns the terminal handler that forwards the requests of route rt to
// pool, whose configuration is up. rt may be nil (no header rules). The
// handler is safe for concurrent use and holds no goroutines or
// connections of its own, so a retired generation needs no cleanup.
func New(pool *upstream.Pool, up *config.Upstream, rt *config.Route, opts Options) (pipeline.Handler, error) {
	if pool == nil || len(pool.Targets()) == 0 {
		return nil, errors.New("proxy: upstream pool without targets")
	}
	if up == nil {
		up = &config.Upstream{}
	}
	h := &handler{wsLimits: wsLimits{idle: config.DefaultWebSocketIdleTimeout.D()}}
	if rt != nil {
		h.route = rt.Name
		if ws := rt.WebSocket; ws != nil {
			h.wsLimits = wsLimits{idle: max(ws.IdleTimeout.D(), 0), lifetime: max(ws.MaxLifetime.D(), 0)}
		}
		h.retryAny = rt.RetryNonIdempotent
		var err error
		if h.reqRules, err = forward.CompileRules(rt.RequestHeaders, true); err != nil {
			return nil, fmt.Errorf("request_headers: %w", err)
		}
		if h.resRules, err = forward.CompileRules(rt.ResponseHeaders, false); err != nil {
			return nil, fmt.Errorf("response_headers: %w", err)
		}
	}
	trs := opts.Transports
	if trs == nil {
		trs = NewTransports()
	}
	relays := opts.Relays
	if relays == nil {
		relays = NewRelays(opts.Logger)
	}
	retries := min(max(up.Retries, 0), upstream.MaxRetries)
	connect, response := up.Timeouts.Connect.D(), up.Timeouts.Response.D()
	if up.TLS != nil && opts.TLS == nil {
		return nil, errors.New("proxy: the upstream's tls settings were not loaded")
	}
	tr := trs.Upstream(up, opts.TLS)
	h.upstreamSide = relays.side(sideKey{pool, tr, retries}, func() *upstreamSide {
		us := &upstreamSide{pool: pool, trusted: opts.TrustedProxies, escape: opts.EscapePath, retries: retries,
			websockets: opts.WebSockets, clock: monotonic, metrics: opts.Metrics}
		if us.escape == nil {
			us.escape = defaultEscape
		}
		us.rp, us.fast = relays.get(pool.Name, tr), tr.fast
		for _, t := range pool.Targets() {
			if t.H2C {
				us.rpH2C = relays.get(pool.Name, trs.GetH2C(connect, response))
				break
			}
		}
		return us
	})
	return h, nil
}

// Relays holds the ReverseProxies of one generation's proxy handlers: one
// per upstream and transport, shared by every route of that upstream. A
// ReverseProxy holds nothing of a route: its hooks find the route's
// handler through the attempt in the outbound request's context, so with
// 10,000 routes there are a few of them, not 10,000. It is safe for
// concurrent use.
//
// It also holds the upstream sides of those handlers (see upstreamSide),
// one per pool, transport and retry count: every handler built with one
// Relays must be given the same Options, Relays aside.
type Relays struct {
	logger *slog.Logger
	mu     sync.Mutex
	rps    map[relayKey]*httputil.ReverseProxy
	logs   map[string]*log.Logger
	sides  map[sideKey]*upstreamSide
}

type sideKey struct {
	pool    *upstream.Pool
	tr      *Transport
	retries int
}

// side returns the upstream side of key, built by build the first time.
func (rs *Relays) side(key sideKey, build func() *upstreamSide) *upstreamSide {
	rs.mu.Lock()
	us := rs.sides[key]
	rs.mu.Unlock()
	if us != nil {
		return us
	}
	// build takes rs.mu itself (Relays.get); two builders racing for one
	// key build equal sides, and the first stored wins.
	us = build()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if prev := rs.sides[key]; prev != nil {
		return prev
	}
	rs.sides[key] = us
	return us
}

type relayKey struct {
	upstream string
	tr       *Transport
}

// NewRelays returns an empty set whose ReverseProxies log their own
// diagnostics to logger at debug level, with the upstream's name; a nil
// logger discards them.
func NewRelays(logger *slog.Logger) *Relays {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relays{logger: logger, rps: make(map[relayKey]*httputil.ReverseProxy), logs: make(map[string]*log.Logger),
		sides: make(map[sideKey]*upstreamSide)}
}

// get returns the ReverseProxy of the named upstream's routes over tr.
func (rs *Relays) get(upstream string, tr *Transport) *httputil.ReverseProxy {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	k := relayKey{upstream, tr}
	if rp := rs.rps[k]; rp != nil {
		return rp
	}
	errLog := rs.logs[upstream]
	if errLog == nil {
		errLog = slog.NewLogLogger(rs.logger.With("upstream", upstream).Handler(), slog.LevelDebug)
		rs.logs[upstream] = errLog
	}
	rp := &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      tr,
		ModifyResponse: modifyResponse,
		ErrorHandler:   errorHandler,
		BufferPool:     buffers,
		ErrorLog:       errLog,
		// 0: bodies of known length are not flushed early; event
		// streams and bodies of unknown length are flushed after every
		// write (ReverseProxy detects both).
		FlushInterval: 0,
	}
	rs.rps[k] = rp
	return rp
}

func defaultEscape(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// attempt is the state of one upstream attempt, shared by ServeHTTP and the
// ReverseProxy callbacks through the outbound request's context.
type attempt struct {
	// h is the route's handler, for the hooks of the shared ReverseProxy.
	h      *handler
	x      *pipeline.Exchange
	target *upstream.Target
	w      responseWriter
	body   requestBody
	res    responseBody
	// err is the error ReverseProxy reported to ErrorHandler.
	err error

	// in is the client's request; at the request's attempt loop (first
	// target, tried targets, retry budget, reports), shared by its
	// attempts.
	in *http.Request
	at *upstream.Attempts
	// unsentOnly limits a retry to a failure before any byte of the
	// request was written (a request that is not idempotent); next is the
	// target the retry goes to once decided.
	unsentOnly bool
	next       *upstream.Target
	// status is the status the upstream answered (0 for none).
	status int
	// trace is the attempt's span, nil when the request's span does not
	// record (tracing off, not sampled); a pointer, so an untraced
	// attempt carries one word for it (see trace.go).
	trace *attemptTrace
}

// request is what ServeHTTP allocates once a request is sent: its attempt
// loop and its first attempt, together, so that a first attempt costs one
// allocation; only retries allocate another attempt.
type request struct {
	at    upstream.Attempts
	first attempt
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// ServeHTTP forwards r to a target of the pool, and to other targets on
// retryable failures (see doc.go). It returns nil when an upstream's
// response was relayed, a *pipeline.HTTPError when nothing was written yet,
// and an error wrapping http.ErrAbortHandler when the response had started
// and could not be completed.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	if x == nil {
		return pipeline.Errorf(http.StatusInternalServerError, pipeline.CodeInternal, "request reached the proxy without an exchange")
	}
	x.Upstream = h.pool.Name
	at, err := h.pool.Attempts(r)
	if err != nil {
		return &pipeline.HTTPError{Status: http.StatusServiceUnavailable, Code: pipeline.CodeNoHealthyUpstream, Message: "no healthy upstream target", Err: err}
	}

	body := r.Body
	if body == http.NoBody {
		body = nil
	}
	retry := h.retryable(r)
	// Any other request may still go to another target when nothing of it
	// was written to the first (unsentOnly); its body, if any, must be at
	// hand again. A body of unknown length is not waited for: it may be a
	// stream the client feeds as answers come.
	unsentOnly := !retry && h.retries > 0 && wire.First(r.Header, "Upgrade") == ""
	if unsentOnly && body != nil && (r.ContentLength < 0 || r.ContentLength > MaxReplayBody) {
		unsentOnly = false
	}
	var replay []byte
	if (retry || unsentOnly) && body != nil {
		var ok bool
		if replay, body, ok, err = bufferBody(r); err != nil {
			return forward.BodyError(r, err)
		}
		retry, unsentOnly = retry && ok, unsentOnly && ok
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away, or reset its HTTP/2 stream, before
		// anything was sent: the upstream must not see the request.
		return &pipeline.HTTPError{Status: pipeline.StatusClientClosed, Code: pipeline.CodeClientClosed, Message: "client closed the request", Err: r.Context().Err()}
	}
	if retry || unsentOnly {
		at.AllowRetries(h.retries)
	}

	first := at.Target()
	useDirect := h.fast != nil && direct(r)
	if useDirect && body != nil && replay == nil && r.ContentLength > 0 && h.directTarget(first) {
		// The direct path sends bodies of known length up to h1.MaxBody:
		// read it whole first (readBody).
		if replay, err = readBody(body, r.ContentLength); err != nil {
			return forward.BodyError(r, err)
		}
		body = nil
	}
	rq := &request{at: at}
	for a := &rq.first; ; a = new(attempt) {
		t := rq.at.Begin()
		x.Target, x.Attempts = t.Name, rq.at.N()
		a.h, a.x, a.target, a.in, a.at, a.unsentOnly = h, x, t, r, &rq.at, unsentOnly
		a.w.ResponseWriter = w
		a.w.http10 = !r.ProtoAtLeast(1, 1)
		h.startSpan(a)
		var aborted, taken bool
		if useDirect && h.directTarget(t) {
			aborted, taken = h.serveDirect(a, replay, body, r.ContentLength)
		}
		if !taken {
			aborted = h.serveRP(a, replay, body)
		}
		h.report(a)
		if a.trace != nil {
			a.endSpan()
		}
		// The bytes to and from the client are the server's to count
		// (Exchange.BytesIn, BytesOut), on plain and hijacked connections
		// alike.
		if ws := a.w.ws; ws != nil && ws.started() {
			x.WebSocket = ws.finish()
		}
		if a.next == nil && h.retryAfterError(a) {
			a.next = h.nextTarget(a)
		}
		if a.next == nil {
			return h.outcome(r, a, aborted)
		}
	}
}

// serveRP runs attempt a through ReverseProxy, with the request body to
// send: replay, or else body (nil for none).
func (h *handler) serveRP(a *attempt, replay []byte, body io.ReadCloser) (aborted bool) {
	r := a.in
	ctx := context.WithValue(r.Context(), attemptKey{}, a)
	// ReverseProxy clears the whole header after relaying a 1xx answer,
	// the gateway's X-Request-ID and RateLimit-* included; this hook runs
	// after its own and puts them back.
	saved := a.w.Header().Clone()
	ct := &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error {
		restoreHeader(a.w.Header(), saved)
		return nil
	}}
	if a.trace != nil {
		a.traceConnection(ct)
	}
	ctx = httptrace.WithClientTrace(ctx, ct)
	out := r.WithContext(ctx)
	switch {
	case replay != nil:
		a.body.rc = io.NopCloser(bytes.NewReader(replay))
		out.Body, out.ContentLength = &a.body, int64(len(replay))
	case body != nil:
		a.body.rc = body
		a.body.closed = make(chan struct{})
		out.Body = &a.body
	}
	rp := h.rp
	if a.target.H2C {
		rp = h.rpH2C
	}
	return serve(rp, &a.w, out)
}

// serve runs rp and reports whether it aborted the response with
// http.ErrAbortHandler (its way to end a body copy that failed after the
// header was sent). Other panics are not the proxy's to swallow.
func serve(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	rp.ServeHTTP(w, r)
	return false
}

// outcome decides what ServeHTTP returns once ReverseProxy is done: the
// server records the request's Status and Err from it (an
// *pipeline.AbortedError when the client went away mid-answer).
func (h *handler) outcome(r *http.Request, a *attempt, aborted bool) error {
	canceled := errors.Is(r.Context().Err(), context.Canceled)
	// A failed request body is the cause, whatever the transport returned
	// (a context error, a write error, a reset stream).
	var failed error
	if canceled && a.body.failed.Load() == nil {
		// The server cancels the context of a request whose body read
		// failed (a read timeout, a reset) before the read returns: give
		// the transport's reader the moment it needs to record the cause.
		a.body.settle(bodySettle)
	}
	if be := a.body.failed.Load(); be != nil {
		failed = be
	}
	if a.w.started {
		// Headers are out: an error can only abort the connection.
		cause := failed
		if cause == nil {
			cause = a.res.err
		}
		if cause == nil {
			cause = a.w.err
		}
		if cause == nil {
			cause = a.err
		}
		if cause == nil && !aborted {
			return nil
		}
		if cause == nil {
			cause = errors.New("copying the upstream response failed")
		}
		err := fmt.Errorf("%w: %w", http.ErrAbortHandler, cause)
		switch {
		case failed != nil:
			// The client's body failed under a started answer: gone (499,
			// nothing more to send), or still there (a read timeout) and
			// owed an aborted connection, never a clean end.
			if forward.ClassifyBody(failed, canceled).Status == pipeline.StatusClientClosed {
				return &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: err}
			}
		case canceled || a.w.err != nil:
			// The client is gone; nobody reads what is left.
			return &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: err}
		}
		return err
	}
	if failed != nil {
		return forward.BodyError(r, failed)
	}
	if a.err == nil {
		return nil
	}
	return forward.Classify(a.err, canceled, a.body.tooLarge.Load())
}

// rewrite builds the outbound request. ReverseProxy has already removed the
// hop-by-hop headers (and those the client named in Connection), Forwarded
// and X-Forwarded-*, so everything set here reaches the upstream.
func rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	a := attemptFrom(in.Context())
	h, x, t := a.h, a.x, a.target

	path := x.Path
	if path == "" {
		path = in.URL.Path
	}
	u := out.URL
	u.Scheme, u.Host = t.Scheme, t.Addr
	u.Opaque, u.User, u.Fragment, u.RawFragment = "", nil, "", ""
	setPath(u, t, path, h.escape(path))
	// The query goes as the client sent it, including parameters Go cannot
	// parse (ReverseProxy would drop those): the upstream owns its query.
	u.RawQuery, u.ForceQuery = in.URL.RawQuery, in.URL.ForceQuery
	// Never the client's Host: for an absolute-form target it would be an
	// authority of the client's choosing.
	out.Host = t.Host

	hd := out.Header
	forward.StripOwned(hd)
	forward.SetHeaders(hd, in, x, h.trusted)
	a.inject(hd)
	// The route's rules come last: the operator has the final word.
	h.reqRules.Apply(hd)
	if host := h.reqRules.Host(); host != "" {
		out.Host = host
	}
}

// setPath sets u's path to the target's base path followed by the forward
// path. Path is derived from the escaped form so the two always agree and
// net/url sends raw (the server's escaping) as is.
func setPath(u *url.URL, t *upstream.Target, path, raw string) {
	joined := t.RawBasePath + raw
	if p, err := url.PathUnescape(joined); err == nil {
		u.Path, u.RawPath = p, joined
		return
	}
	u.Path, u.RawPath = t.BasePath+path, ""
}

// modifyResponse is ReverseProxy's hook: it has removed the hop-by-hop
// fields and copies what is left of res.Header after the hook.
func modifyResponse(res *http.Response) error {
	a := attemptFrom(res.Request.Context())
	if err := a.h.onResponse(a, res); err != nil {
		return err
	}
	a.h.editResponse(a.w.Header(), res.Header)
	return nil
}

// editResponse makes res, the upstream's response header without its
// hop-by-hop fields, what the client gets of it: the gateway's headers in
// dst win over the upstream's, then the route's response_headers rules.
func (h *handler) editResponse(dst, res http.Header) {
	forward.DropGatewayOwned(dst, res)
	h.resRules.Apply(res)
}

// onResponse handles the upstream's response for both paths, its header
// aside (editResponse): a 502/503/504 that will be retried is refused with
// errRetry (nothing reaches the client), and WebSocket answers get their
// accounting.
func (h *handler) onResponse(a *attempt, res *http.Response) error {
	a.at.Answered()
	a.status = res.StatusCode
	if a.trace != nil {
		a.trace.span.AddEvent("response_header")
	}
	if forward.RetryStatus(res.StatusCode) && !a.unsentOnly {
		if a.next = h.nextTarget(a); a.next != nil {
			// ReverseProxy closes the body and calls errorHandler; nothing
			// reaches the client.
			return errRetry
		}
	}
	switch {
	case res.StatusCode == http.StatusSwitchingProtocols:
		// The body is the upgraded connection, which ReverseProxy needs
		// as is; only the client's side gets wrapped, at the hijack.
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			a.w.ws = h.newWebSocket(rwc)
		}
	case res.Body != nil && res.Body != http.NoBody:
		a.res.rc = res.Body
		res.Body = &a.res
	}
	return nil
}

// errorHandler records the failure instead of writing a body: only package
// server renders errors.
func errorHandler(_ http.ResponseWriter, r *http.Request, err error) {
	if a := attemptFrom(r.Context()); a != nil && a.err == nil {
		a.err = err
	}
}
