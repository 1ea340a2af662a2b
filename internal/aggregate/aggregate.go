package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// Limits, used when Deps leaves them 0.
const (
	// DefaultMaxResponseBytes bounds one call's answer.
	DefaultMaxResponseBytes = 10 << 20
	// DefaultMaxFanOut bounds the requests one fan-out call makes.
	DefaultMaxFanOut = 100
	// DefaultCacheBytes bounds the answers cached for one aggregate route.
	DefaultCacheBytes = 16 << 20
	// FanOutConcurrency is how many requests of one fan-out call run at
	// once.
	FanOutConcurrency = 8
)

// Deps is what an aggregate handler uses from the rest of the gateway.
type Deps struct {
	// Pools are the generation's upstream pools, by name.
	Pools map[string]*upstream.Pool
	// Upstreams are the upstreams' configurations (timeouts, retries).
	Upstreams map[string]*config.Upstream
	// Transports is the server's shared registry; nil gives a private one.
	Transports *proxy.Transports
	// TLS holds the loaded tls blocks (proxy.LoadClientTLS) of the
	// upstreams that have one, by upstream name.
	TLS map[string]*proxy.ClientTLS
	// TrustedProxies are the peers whose X-Forwarded-For is kept, as for
	// proxied routes.
	TrustedProxies []netip.Prefix
	// Logger receives optional calls' failures at debug level (an outage
	// of an optional upstream would otherwise log every request); they are
	// in Exchange.Partial for the access log. Default: discard.
	Logger *slog.Logger
	// At is the route's key path ("routes[3]"); New prefixes its problems'
	// paths with it.
	At string
	// Now is the cache's clock. Default time.Now.
	Now func() time.Time
	// MaxResponseBytes bounds one call's answer. Default 10 MiB.
	MaxResponseBytes int64
	// MaxFanOut bounds the requests of one fan-out call; a longer array
	// fails the call. Default 100.
	MaxFanOut int
	// CacheBytes bounds the cached answers of the route. Default 16 MiB.
	CacheBytes int64
}

// handler is the aggregate terminal of one route.
type handler struct {
	route   string
	timeout time.Duration
	calls   []*call
	// roots are the calls that use no other call's answer.
	roots      []int
	anyFlatten bool
	// batched counts the calls with batch set.
	batched int
	// sharesBase: a call sends the run's base header as it is.
	sharesBase bool
	// reqRules and resRules are the route's request_headers and
	// response_headers.
	reqRules, resRules *forward.Rules
	trusted            []netip.Prefix
	log                *slog.Logger
	maxBytes           int64
	maxFanOut          int
}

var _ pipeline.Handler = (*handler)(nil)

// call is one configured call, ready to run.
type call struct {
	*spec
	name    string
	method  string
	pool    *upstream.Pool
	tr      *proxy.Transport
	h2c     http.RoundTripper
	timeout time.Duration // 0: the aggregate's
	retries int
	// unsentOnly limits the retries of a call whose method is not
	// idempotent to failures before any byte of it was written.
	unsentOnly bool
	optional   bool
	// raw is set when nothing reads into the answer (no select, rename or
	// flatten, no call uses it): it is checked and copied, not decoded.
	raw   bool
	cache *cache
	ttl   time.Duration
	// batch says the request's goroutine sends the call itself when no
	// call of the aggregate needs another's answer (batch.go): it has no
	// fan-out, no cache and no h2c target.
	batch bool
}

// New builds the aggregate terminal of route rc. It runs Check (with the
// parameters of rc's match.path) and fails with config.Problems, paths
// prefixed with deps.At, when the aggregate is wrong, names an upstream
// without a pool, or the route's header rules touch framing headers. The
// route's request_headers apply to every call, its response_headers to the
// merged answer. The handler is safe for concurrent use and holds no
// goroutines; its answer cache lives as long as it does.
func New(rc *config.Route, deps Deps) (pipeline.Handler, error) {
	if rc == nil || rc.Aggregate == nil {
		return nil, errors.New("aggregate: route has no aggregate section")
	}
	a := rc.Aggregate
	specs, ps := compile(a, pathParams(rc.Match.Path))
	for i := range ps {
		ps[i].Path = "aggregate." + ps[i].Path
	}
	h := &handler{
		route:     rc.Name,
		timeout:   a.Timeout.D(),
		trusted:   deps.TrustedProxies,
		log:       deps.Logger,
		maxBytes:  deps.MaxResponseBytes,
		maxFanOut: deps.MaxFanOut,
	}
	if h.timeout <= 0 {
		h.timeout = config.DefaultAggregateTimeout.D()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultMaxResponseBytes
	}
	if h.maxFanOut <= 0 {
		h.maxFanOut = DefaultMaxFanOut
	}
	addProblem := func(path, format string, args ...any) {
		ps = append(ps, Problem{path, fmt.Sprintf(format, args...)})
	}
	var err error
	if h.reqRules, err = forward.CompileRules(rc.RequestHeaders, true); err != nil {
		addProblem("request_headers", "%v", err)
	}
	if h.resRules, err = forward.CompileRules(rc.ResponseHeaders, false); err != nil {
		addProblem("response_headers", "%v", err)
	}
	trs := deps.Transports
	if trs == nil {
		trs = proxy.NewTransports()
	}
	var ch *cache
	for i, s := range specs {
		if s == nil {
			continue
		}
		c := s.cfg
		pool := deps.Pools[c.Upstream]
		if up := deps.Upstreams[c.Upstream]; up != nil && up.Lambda != nil {
			addProblem(fmt.Sprintf("aggregate.calls[%d].upstream", i), "upstream %q is a lambda function; aggregate calls need an upstream with targets", c.Upstream)
			continue
		}
		if pool == nil || len(pool.Targets()) == 0 {
			addProblem(fmt.Sprintf("aggregate.calls[%d].upstream", i), "upstream %q has no usable targets", c.Upstream)
			continue
		}
		up := deps.Upstreams[c.Upstream]
		if up == nil {
			up = &config.Upstream{}
		}
		ct := deps.TLS[c.Upstream]
		if up.TLS != nil && ct == nil {
			addProblem(fmt.Sprintf("aggregate.calls[%d].upstream", i), "upstream %q is not usable (its tls block)", c.Upstream)
			continue
		}
		connect, response := up.Timeouts.Connect.D(), up.Timeouts.Response.D()
		cl := &call{
			spec:     s,
			name:     c.Name,
			method:   c.Method,
			pool:     pool,
			tr:       trs.Upstream(up, ct),
			retries:  min(max(up.Retries, 0), upstream.MaxRetries),
			optional: c.Optional,
			raw:      len(c.Select) == 0 && len(c.Rename) == 0 && !c.Flatten && len(s.dependents) == 0,
			ttl:      c.Cache.D(),
		}
		if cl.method == "" {
			cl.method = http.MethodGet
		}
		cl.unsentOnly = !forward.Idempotent(cl.method)
		if t := c.Timeout.D(); t > 0 && t < h.timeout {
			cl.timeout = t
		}
		for _, t := range pool.Targets() {
			if t.H2C {
				cl.h2c = trs.GetH2C(connect, response)
				break
			}
		}
		if cl.ttl > 0 {
			if ch == nil {
				ch = newCache(deps.CacheBytes, deps.Now)
			}
			cl.cache = ch
		}
		cl.batch = cl.fan == nil && cl.cache == nil && cl.h2c == nil
		if cl.batch {
			h.batched++
		}
		if len(s.deps) == 0 {
			h.roots = append(h.roots, i)
		}
		h.anyFlatten = h.anyFlatten || c.Flatten
		h.sharesBase = h.sharesBase || len(s.headers) == 0 && s.body == nil
		h.calls = append(h.calls, cl)
	}
	if len(ps) > 0 {
		at := deps.At
		if at != "" {
			at += "."
		}
		out := make(config.Problems, len(ps))
		for i, p := range ps {
			out[i] = config.Problem{Path: at + p.Path, Message: p.Message}
		}
		return nil, out
	}
	return h, nil
}

// run is one request's aggregate: what the calls read (snapshotted from the
// Exchange, which only the request's goroutine may touch) and what they
// answered.
type run struct {
	h   *handler
	ctx context.Context
	// dl is ctx as what it is.
	dl *deadline
	// in is the client's request, for balancers that read it.
	in     *http.Request
	params []pipeline.Param
	// base are the headers every call carries; out has them checked and
	// written once (its Block, nil when no call sends base as it is), in
	// the run's own allocation with blk.
	base http.Header
	out  h1.Outbound
	blk  h1.Block
	// results[i] is call i's answer once it succeeded; written by the
	// coordinator before any call that reads it starts.
	results  []any
	state    []callState
	attempts atomic.Int64
	// batch are the calls this goroutine sends itself (batch.go);
	// away counts those handed to workers.
	batch []batchCall
	away  int
	// paths holds the batch calls' paths, one allocation for all (build).
	paths strings.Builder
	// cur is the batch call being landed, end where this goroutine's
	// landing stops (the rest went to workers).
	cur, end int
	// need[i] counts the answers call i still waits for.
	need []int
	// The coordinator's own state, touched by the request's goroutine
	// only: done is where the calls on workers report (made at the first
	// one), inFlight how many outcomes it still waits for, inline the
	// call it makes itself (-1: none), off the batch calls called off,
	// settled last, and fatal the first required failure.
	done     chan outcome
	inFlight int
	inline   int
	off      []outcome
	fatal    *callError
	// vals backs the values of the base header's Accept and the
	// answer's Content-Type and Content-Length, each its own full slice
	// expression, as forward.SetHeaders does for its fields.
	vals [3]string
	// small holds results, state and need for an aggregate of up to
	// smallCalls calls, in the run's own allocation.
	small struct {
		results [smallCalls]any
		state   [smallCalls]callState
		need    [smallCalls]int
	}
}

// smallCalls is how many calls an aggregate may have for its run's
// slices to live in the run itself.
const smallCalls = 4

// slices returns results, state and need for n calls: the run's own
// arrays when n is small enough, else new ones.
func (rn *run) slices(n int) ([]any, []callState, []int) {
	if n <= smallCalls {
		return rn.small.results[:n], rn.small.state[:n], rn.small.need[:n]
	}
	return make([]any, n), make([]callState, n), make([]int, n)
}

type callState uint8

const (
	pending callState = iota
	running
	succeeded
	failed
	skipped // a call it needs failed
)

type outcome struct {
	i   int
	v   any
	err error
}

// ServeHTTP runs the calls, each as soon as the answers it needs have
// arrived, and answers one JSON object. See doc.go for the semantics.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	if x == nil {
		return pipeline.Errorf(http.StatusInternalServerError, pipeline.CodeInternal, "request reached the aggregate without an exchange")
	}
	x.Upstream = "aggregate"
	if err := discardBody(r); err != nil {
		return forward.BodyError(r, err)
	}
	dl := newDeadline(r.Context(), time.Now().Add(h.timeout))
	defer dl.stop()
	rn := &run{
		h:      h,
		ctx:    dl,
		dl:     dl,
		in:     r,
		params: x.Params,
	}
	rn.base = h.baseHeader(r, x, rn)
	rn.results, rn.state, rn.need = rn.slices(len(h.calls))
	if h.sharesBase {
		// A header the client's request makes invalid fails each call
		// as it would without the block.
		if blk, err := h1.NewBlock(rn.base); err == nil {
			rn.blk = blk
			rn.out.Block = &rn.blk
		}
	}
	fatal := rn.execute()
	x.Attempts = int(rn.attempts.Load())
	if fatal == nil && errors.Is(r.Context().Err(), context.Canceled) {
		// Only optional calls were running; nobody is left to answer.
		fatal = &callError{call: "", reason: "canceled", canceled: true}
	}
	if fatal != nil {
		return h.failure(r, fatal)
	}
	var partial []string
	for i, c := range h.calls {
		if rn.state[i] != succeeded {
			partial = append(partial, c.name)
		}
	}
	x.Partial = partial
	body := h.merge(rn)
	hd := w.Header()
	rn.vals[1], rn.vals[2] = "application/json", strconv.Itoa(len(body))
	hd["Content-Type"] = rn.vals[1:2:2]
	hd["Content-Length"] = rn.vals[2:3:3]
	h.resRules.Apply(hd)
	if len(partial) > 0 {
		hd["X-Gantry-Partial"] = []string{strings.Join(partial, ",")}
	}
	w.WriteHeader(http.StatusOK)
	// A failed write means the client is gone; the server sees it too.
	_, _ = w.Write(body)
	return nil
}

// discardBody reads the client's request body to its end before any call
// is made. No call uses it, but a body whose framing is broken, that ends
// before its Content-Length, arrives after read_timeout or exceeds the
// body limit is the client's error, answered 400, 408 or 413 as on every
// other route (#13), never a 200 built from calls made for a request the
// gateway could not read. The route's body limit bounds what is read.
func discardBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	_, err := io.Copy(io.Discard, r.Body)
	return err
}

// execute runs the call graph and returns the first failure of a required
// call, after every goroutine it started has ended. A call starts once all
// the calls it needs have succeeded: no levels, no waiting for unrelated
// calls. When an optional call fails, the calls that need it are skipped.
//
// The coordination lives in the run and its methods, not in closures: a
// closure that a worker or the batch keeps is an allocation per request.
func (rn *run) execute() *callError {
	h := rn.h
	for i, c := range h.calls {
		rn.need[i] = len(c.deps)
	}
	flat := len(h.roots) == len(h.calls)
	// When no call needs another's answer, the calls that can be sent by
	// this goroutine are (see batch.go); when none can, the last call
	// runs on this goroutine, which would otherwise only wait: one
	// hand-off to a worker, and one wake-up, less per request. It is
	// started last, so the others are under way. (With dependencies this
	// goroutine must stay free to start the calls that wait.)
	rn.inline = -1
	if flat && h.batched == 0 && len(h.roots) > 0 {
		rn.inline = h.roots[len(h.roots)-1]
	}
	if flat && h.batched > 0 {
		for _, i := range h.roots {
			if !h.calls[i].batch {
				rn.start(i)
			}
		}
		// The flights' own outcomes: those this goroutine lands are
		// settled as they land, those handed to workers arrive on done.
		rn.fly()
		rn.inFlight += rn.away
	} else {
		for _, i := range h.roots {
			rn.start(i)
		}
	}
	for rn.inFlight > 0 {
		o := <-rn.done
		rn.inFlight--
		rn.settle(o)
	}
	for _, o := range rn.off {
		rn.settle(o)
	}
	return rn.fatal
}

// outcomes returns the channel the calls not made on this goroutine
// report on, made at the first of them: a flat aggregate whose calls this
// goroutine makes needs none. Buffered for every call, so no goroutine
// ever blocks on sending. Only the request's goroutine calls it, before
// it hands a call to a worker.
func (rn *run) outcomes() chan outcome {
	if rn.done == nil {
		rn.done = make(chan outcome, len(rn.h.calls))
	}
	return rn.done
}

// start makes call i: on this goroutine when it is the inline one, else
// on a worker.
func (rn *run) start(i int) {
	rn.state[i] = running
	rn.inFlight++
	rn.outcomes()
	if i == rn.inline {
		rn.work(i)
		return
	}
	workers.GoWith((*run).work, rn, i)
}

// work makes call i and reports it.
func (rn *run) work(i int) {
	v, err := rn.exec(rn.h.calls[i])
	rn.report(outcome{i, v, err})
}

// report sends a call's outcome to the coordinator. A required call's
// failure calls the others off at once, after its outcome is sent: the
// failures that calling off causes arrive after it, so the first required
// failure received is the one that decided.
func (rn *run) report(o outcome) {
	rn.done <- o
	rn.decided(o)
}

// decided calls the others off when o is a required call's failure.
func (rn *run) decided(o outcome) {
	if o.err != nil && !rn.h.calls[o.i].optional {
		rn.dl.callOff()
	}
}

// landed takes the outcome of a batch call this goroutine landed. One
// called off (by a worker's failure, which is on its way and must be the
// one that decides, or by the client) waits in off until the workers'
// outcomes are settled.
func (rn *run) landed(o outcome) {
	if ce, ok := o.err.(*callError); ok && ce.canceled {
		rn.off = append(rn.off, o)
		return
	}
	rn.settle(o)
	rn.decided(o)
}

// settle records a call's outcome and starts the calls that waited only
// for it. The first required failure is the run's fatal one; after it,
// nothing more starts.
func (rn *run) settle(o outcome) {
	h := rn.h
	c := h.calls[o.i]
	if o.err != nil {
		rn.state[o.i] = failed
		ce := asCallError(c, o.err)
		if !c.optional {
			if rn.fatal == nil {
				// Nothing else can change the answer now; the call's
				// goroutine has called the others off.
				rn.fatal = ce
			}
			return
		}
		rn.skip(c)
		h.log.Debug("optional aggregate call left out", "route", h.route, "call", c.name, "request_id", rn.base.Get("X-Request-Id"), "error", ce)
		return
	}
	rn.results[o.i] = o.v
	rn.state[o.i] = succeeded
	if rn.fatal != nil {
		return
	}
	for _, d := range c.dependents {
		if rn.need[d]--; rn.need[d] == 0 && rn.state[d] == pending {
			rn.start(d)
		}
	}
}

// baseFields is how a call that sends base as it is has it written: the
// block checked and written once, nil when there is none.
func (rn *run) baseFields() *h1.Outbound {
	if rn.out.Block == nil {
		return nil
	}
	return &rn.out
}

// skip marks the calls that need c, directly or not, as skipped.
func (rn *run) skip(c *call) {
	for _, d := range c.dependents {
		if rn.state[d] == pending {
			rn.state[d] = skipped
			rn.skip(rn.h.calls[d])
		}
	}
}

// failure turns a required call's failure into the client's error: 504
// when it timed out, 499 when the client went away, else 502.
func (h *handler) failure(r *http.Request, ce *callError) *pipeline.HTTPError {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return &pipeline.HTTPError{Status: pipeline.StatusClientClosed, Code: pipeline.CodeClientClosed, Message: "client closed the request", Err: ce}
	}
	status := http.StatusBadGateway
	if ce.timeout {
		status = http.StatusGatewayTimeout
	}
	return &pipeline.HTTPError{Status: status, Code: pipeline.CodeAggregateFailed, Message: ce.Error(), Err: ce}
}

// baseHeader builds the headers every call of the request carries, as the
// proxy sets them for proxied routes.
func (h *handler) baseHeader(r *http.Request, x *pipeline.Exchange, rn *run) http.Header {
	hd := make(http.Header, 8)
	rn.vals[0] = "application/json"
	hd["Accept"] = rn.vals[0:1:1]
	forward.SetHeaders(hd, r, x, h.trusted)
	passTraceContext(hd, r.Header)
	// The route's rules come last: the operator has the final word.
	h.reqRules.Apply(hd)
	return hd
}
