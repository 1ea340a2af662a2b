package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/jsonvalid"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// callError is why a call failed. Its message goes to clients: it names the
// call and never carries addresses or the upstream's own words; the cause
// stays in err for the log.
type callError struct {
	call   string
	reason string
	// timeout is set when a time limit ended the call (504), canceled
	// when the request was called off (client gone, a required call failed).
	timeout, canceled bool
	err               error
}

func (e *callError) Error() string {
	return fmt.Sprintf("aggregate call %q failed: %s", e.call, e.reason)
}

func (e *callError) Unwrap() error { return e.err }

func asCallError(c *call, err error) *callError {
	var ce *callError
	if errors.As(err, &ce) {
		return ce
	}
	return &callError{call: c.name, reason: err.Error(), err: err}
}

// exec runs call c: one request, or one per element of its fan-out array,
// at most FanOutConcurrency at a time, answers collected in element order.
func (rn *run) exec(c *call) (any, error) {
	if rn.ctx.Err() != nil {
		return nil, rn.stopped(c, rn.ctx)
	}
	ctx, sp := startCall(rn.ctx, c)
	if sp == nil {
		return rn.execIn(ctx, c)
	}
	v, err := rn.execIn(ctx, c)
	endCall(sp, err)
	return v, err
}

// execIn is exec under ctx, which carries the call's span when traced.
func (rn *run) execIn(ctx context.Context, c *call) (any, error) {
	if c.fan == nil {
		return rn.one(ctx, c, -1)
	}
	arr, err := fanOut(c.fan, &env{results: rn.results})
	if err != nil {
		return nil, &callError{call: c.name, reason: err.Error(), err: err}
	}
	n := len(arr)
	if n > rn.h.maxFanOut {
		return nil, &callError{call: c.name, reason: fmt.Sprintf("fans out to %d requests, more than the limit of %d", n, rn.h.maxFanOut)}
	}
	out := make([]any, n)
	if n == 0 {
		return out, nil
	}
	// A variable of its own: the goroutines capture it, and a captured
	// parameter would cost every call, fanned out or not, an allocation.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, finished atomic.Int64
		once           sync.Once
		first          error
		wg             sync.WaitGroup
	)
	for range min(n, FanOutConcurrency) {
		wg.Add(1)
		workers.Go(func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n || fctx.Err() != nil {
					return
				}
				v, err := rn.one(fctx, c, k)
				if err != nil {
					// The first failure fails the call; the others stop.
					once.Do(func() { first = err; cancel() })
					return
				}
				out[k] = v
				finished.Add(1)
			}
		})
	}
	wg.Wait()
	if first == nil && int(finished.Load()) < n {
		first = rn.stopped(c, rn.ctx)
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// outbound is one request of a call, templates resolved.
type outbound struct {
	path, query string // escaped
	header      http.Header
	body        []byte
	// fields is set when header is the run's base header: its fields
	// checked and written once for every call that sends them as they
	// are (h1.Block).
	fields *h1.Outbound
}

// one makes one request of c: element elem of its fan-out, or -1.
func (rn *run) one(ctx context.Context, c *call, elem int) (any, error) {
	e := env{params: rn.params, results: rn.results, elem: elem}
	// ob stays on this goroutine's stack: nothing keeps it past the call
	// (the cache's loader gets a copy of its own).
	var ob outbound
	if err := rn.build(c, &e, &ob, nil); err != nil {
		return nil, rn.elemError(c, elem, &callError{call: c.name, reason: err.Error(), err: err})
	}
	var v any
	var err error
	if c.cache != nil {
		obc := ob
		v, err = c.cache.do(ctx, cacheKey(c, &obc), func() (any, int64, time.Duration, error) {
			return rn.fetch(ctx, c, &obc)
		})
	} else {
		v, _, _, err = rn.fetch(ctx, c, &ob)
	}
	if err != nil {
		return nil, rn.elemError(c, elem, asCallError(c, err))
	}
	return v, nil
}

func (rn *run) elemError(c *call, elem int, ce *callError) *callError {
	if elem < 0 || c.fan == nil {
		return ce
	}
	out := *ce
	out.reason = fmt.Sprintf("request %d (%s = element %d): %s", elem+1, c.fan.text, elem, ce.reason)
	return &out
}

// build resolves c's templates into ob.
//
// The path is rendered into a buffer on the stack (a longer one grows onto
// the heap) and kept as one string: a string of its own, or with paths
// (the batch's, on the request's goroutine only) the next part of that
// builder's, whose bytes a later write never changes.
func (rn *run) build(c *call, e *env, ob *outbound, paths *strings.Builder) error {
	var scratch [128]byte
	buf, err := c.path.render(scratch[:0], e)
	if err != nil {
		return err
	}
	ob.header = rn.base
	var path string
	if paths != nil {
		at := paths.Len()
		paths.Write(buf)
		path = paths.String()[at:]
	} else {
		path = string(buf)
	}
	ob.path, ob.query, _ = strings.Cut(path, "?")
	if c.body != nil {
		if ob.body, err = c.body.render(nil, e); err != nil {
			return err
		}
	}
	if len(c.headers) == 0 && ob.body == nil {
		// Shared: transports never modify a request's header.
		ob.fields = rn.baseFields()
		return nil
	}
	ob.header = rn.base.Clone()
	if ob.body != nil {
		ob.header["Content-Type"] = []string{"application/json"}
	}
	for _, h := range c.headers {
		v, err := h.t.render(nil, e)
		if err != nil {
			return err
		}
		// The call's own headers come last: the operator has the final
		// word, as with a route's request_headers.
		ob.header[h.name] = []string{string(v)}
	}
	return nil
}

// cacheKey identifies an answer: the call, method, upstream, path, the
// call's own headers and body. The consumer is not part of it: cache only
// answers that are the same for every consumer.
func cacheKey(c *call, ob *outbound) string {
	var b strings.Builder
	b.Grow(len(c.name) + len(c.method) + len(c.cfg.Upstream) + len(ob.path) + len(ob.query) + len(ob.body) + 8)
	b.WriteString(c.name)
	b.WriteByte(0)
	b.WriteString(c.method)
	b.WriteByte(0)
	b.WriteString(c.cfg.Upstream)
	b.WriteByte(0)
	b.WriteString(ob.path)
	b.WriteByte('?')
	b.WriteString(ob.query)
	for _, h := range c.headers {
		b.WriteByte(0)
		b.WriteString(h.name)
		b.WriteByte(':')
		b.WriteString(ob.header.Get(h.name))
	}
	b.WriteByte(0)
	b.Write(ob.body)
	return b.String()
}

// fetch sends ob to a target of c's pool, and to other targets on retryable
// failures, as the proxy does: idempotent methods, and others only when
// nothing of them was written, up to the upstream's retries, within its
// retry budget. It returns the answer, its
// size and how long it may be cached.
func (rn *run) fetch(ctx context.Context, c *call, ob *outbound) (any, int64, time.Duration, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	at, err := c.pool.Attempts(rn.in)
	if err != nil {
		return nil, 0, 0, noTarget(c, err)
	}
	at.AllowRetries(c.retries)
	return rn.tryTargets(ctx, c, &at, ob)
}

// noTarget is the failure of a call whose upstream has no target to try.
func noTarget(c *call, err error) *callError {
	return &callError{call: c.name, reason: "no healthy upstream target", err: err}
}

// tryTargets makes the attempts of ob on at's targets until one succeeds
// or a failure may not be retried.
func (rn *run) tryTargets(ctx context.Context, c *call, at *upstream.Attempts, ob *outbound) (any, int64, time.Duration, error) {
	for {
		rn.attempts.Add(1)
		v, size, ttl, again, err := rn.attempt(ctx, c, at, ob)
		if err == nil {
			return v, size, ttl, nil
		}
		if !again || ctx.Err() != nil || at.Next() == nil {
			return nil, 0, 0, err
		}
	}
}

// attempt sends ob once, to the next target of at, and reads the answer.
// again reports whether the failure may be retried on another target.
func (rn *run) attempt(ctx context.Context, c *call, at *upstream.Attempts, ob *outbound) (v any, size int64, ttl time.Duration, again bool, err error) {
	// The answer's header comes as a list when it can (h1.Outbound.List):
	// the call reads two fields of it and builds no map.
	var out h1.Outbound
	req, t := prepare(ctx, c, at, ob, &out, new(request))
	var res *http.Response
	if t.H2C {
		res, err = c.h2c.RoundTrip(req.WithContext(ctx))
	} else {
		res, err = c.tr.Send(ctx, req, &out)
	}
	return rn.answer(ctx, c, at, res, err, &out, nil)
}

// prepare begins an attempt of ob on at's next target: the request to
// send, built in rq, and the header fields to send it with in out (a copy
// of the run's shared Outbound, this attempt's own, asking for the
// answer's header as a list).
func prepare(ctx context.Context, c *call, at *upstream.Attempts, ob *outbound, out *h1.Outbound, rq *request) (*http.Request, *upstream.Target) {
	t := at.Begin()
	req := rq.fill(c, t, ob)
	fields := ob.fields
	if injectCall(ctx, req, t) {
		// The span's trace context: a header of this attempt's own.
		fields = nil
	}
	if fields != nil {
		*out = *fields
	}
	out.List = true
	return req, t
}

// answer reads an attempt's answer, or its failure (err, res nil), into
// the call's value; a raw answer into slot when there is one. again
// reports whether the failure may be retried on another target.
func (rn *run) answer(ctx context.Context, c *call, at *upstream.Attempts, res *http.Response, err error, out *h1.Outbound, slot *rawSlot) (v any, size int64, ttl time.Duration, again bool, _ error) {
	at.Answered()
	if err != nil {
		ce, o, again := rn.transportFailure(ctx, c, 0, err)
		if c.unsentOnly {
			// Not idempotent: only a call the target never saw goes again.
			again = ctx.Err() == nil && forward.NotSent(err)
		}
		at.Failed(forward.Cause(err))
		at.Done(0, o)
		return nil, 0, 0, again, ce
	}
	defer res.Body.Close()
	status := res.StatusCode
	fail := func(format string, args ...any) (any, int64, time.Duration, bool, error) {
		// The answer came but is not what the call wants: the target is
		// not at fault.
		at.Done(status, upstream.Classify(status, false, false, false))
		return nil, 0, 0, false, &callError{call: c.name, reason: fmt.Sprintf(format, args...)}
	}
	if status < 200 || status > 299 {
		// A little is read so the connection can be reused.
		_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
		at.Done(status, upstream.Classify(status, false, false, false))
		// 502, 503 and 504 say the target could not serve the request, so
		// another one may; other statuses come from the application.
		again := !c.unsentOnly && forward.RetryStatus(status)
		return nil, 0, 0, again, &callError{call: c.name, reason: fmt.Sprintf("upstream answered %d", status)}
	}
	if ct := h1.Value(res, out.Answer, "Content-Type"); !isJSON(ct) {
		if ct == "" {
			return fail("upstream answered without a Content-Type, not JSON")
		}
		return fail("upstream answered %q, not JSON", mediaType(ct))
	}
	max := rn.h.maxBytes
	if res.ContentLength > max {
		return fail("answer of %d bytes is larger than the limit of %d", res.ContentLength, max)
	}
	v, size, err = decode(res.Body, c.raw, max, res.ContentLength, slot)
	switch {
	case err == nil:
	case errors.Is(err, errTooLarge):
		return fail("answer is larger than the limit of %d bytes", max)
	case errors.Is(err, errNotJSON):
		return fail("answer is not valid JSON")
	default:
		ce, o, _ := rn.transportFailure(ctx, c, status, err)
		at.Done(status, o)
		return nil, 0, 0, false, ce
	}
	at.Done(status, upstream.Classify(status, false, false, false))
	if c.ttl > 0 {
		header := res.Header
		if header == nil {
			header = h1.ListHeader(out.Answer)
		}
		ttl = cacheTTL(header, c.ttl)
	}
	return v, size, ttl, false, nil
}

// request is an attempt's request and its URL, in one allocation.
type request struct {
	http.Request
	url url.URL
}

// fill makes rq the request of ob to target t, without a context (the
// transport gets it apart, or a copy carries it), and returns it.
func (rq *request) fill(c *call, t *upstream.Target, ob *outbound) *http.Request {
	u := &rq.url
	*u = url.URL{Scheme: t.Scheme, Host: t.Addr, RawQuery: ob.query}
	raw := t.RawBasePath + ob.path
	if p, err := url.PathUnescape(raw); err == nil {
		u.Path, u.RawPath = p, raw
	} else {
		u.Path = t.BasePath + ob.path
	}
	rq.Request = http.Request{
		Method:     c.method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     ob.header,
		Host:       t.Host,
	}
	req := &rq.Request
	if ob.body != nil {
		body := ob.body
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req
}

// transportFailure classifies a failure to get or read an answer (status
// is the answer's, 0 for none): the client-safe reason, what it says about
// the target, and whether another target may be tried, by the proxy's
// retry rule. A call that a time limit ended counts against the target; one
// called off (client gone, a required call failed) does not.
func (rn *run) transportFailure(ctx context.Context, c *call, status int, err error) (*callError, upstream.Outcome, bool) {
	if ctx.Err() != nil {
		ce := rn.stopped(c, ctx)
		ce.err = err
		return ce, upstream.Classify(status, false, !ce.timeout, true), false
	}
	ce := &callError{call: c.name, err: err}
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		ce.reason = "cannot connect to upstream"
	case errors.As(err, &ne) && ne.Timeout():
		ce.reason, ce.timeout = "upstream did not answer in time", true
	case forward.Retryable(err):
		ce.reason = "upstream closed the connection"
	default:
		ce.reason = "upstream sent no valid response"
	}
	return ce, upstream.Classify(status, false, false, true), forward.Retryable(err)
}

// stopped explains why a call ended because ctx did: a time limit (504) or
// a cancellation (the client went away, or a required call failed).
func (rn *run) stopped(c *call, ctx context.Context) *callError {
	ce := &callError{call: c.name, err: ctx.Err()}
	switch {
	case errors.Is(rn.ctx.Err(), context.DeadlineExceeded):
		ce.reason, ce.timeout = fmt.Sprintf("not done within the aggregate's timeout of %s", rn.h.timeout), true
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		ce.reason, ce.timeout = fmt.Sprintf("upstream did not answer within the call's timeout of %s", c.timeout), true
	default:
		ce.reason, ce.canceled = "canceled", true
	}
	return ce
}

var (
	errTooLarge = errors.New("answer too large")
	errNotJSON  = errors.New("answer is not JSON")
)

// rawSlot is where a batch call keeps its raw answer (see decode): in the
// batch's own allocation, not in two of its own.
type rawSlot struct {
	msg json.RawMessage
	buf [rawSlotSize]byte
}

// rawSlotSize is the largest answer (with its announced length, plus
// one) a rawSlot holds in place; a larger one is read into a buffer of its
// own.
const rawSlotSize = 256

// decode reads one JSON value of at most max bytes from r. A raw answer is
// checked and kept as its bytes, always as a *json.RawMessage: with a slot
// to slot.msg, its bytes in slot.buf when they fit (the interface holds a
// pointer, which it does without allocating); without one to a message of
// its own, which costs the one allocation boxing the slice would. Any
// other is decoded by a streaming decoder, numbers kept as json.Number so
// large integers survive.
func decode(r io.Reader, raw bool, max, length int64, slot *rawSlot) (any, int64, error) {
	if raw {
		// Read through a concrete type, the limit stays on the stack.
		lr := limitedReader{r: r, max: max}
		var scratch []byte
		if slot != nil {
			scratch = slot.buf[:]
		}
		b, err := readAll(&lr, length, scratch)
		if err != nil {
			return nil, 0, err
		}
		b = bytes.TrimSpace(b)
		if !jsonvalid.Valid(b) {
			return nil, 0, errNotJSON
		}
		if slot != nil {
			slot.msg = b
			return &slot.msg, int64(len(b)), nil
		}
		msg := json.RawMessage(b)
		return &msg, int64(len(b)), nil
	}
	lr := &limitedReader{r: r, max: max}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, 0, decodeError(err, lr)
	}
	// Exactly one value: what follows may only be white space.
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return nil, 0, errNotJSON
		}
		return nil, 0, decodeError(err, lr)
	}
	return v, lr.n, nil
}

// decodeError tells a read failure (returned as is) from an answer that is
// not JSON.
func decodeError(err error, lr *limitedReader) error {
	switch {
	case errors.Is(err, errTooLarge):
		return errTooLarge
	case lr.err != nil && lr.err != io.EOF:
		return lr.err
	}
	return errNotJSON
}

// limitedReader fails with errTooLarge once more than max bytes are read,
// and remembers the underlying reader's error.
type limitedReader struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, errTooLarge
	}
	if rest := l.max - l.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if err != nil {
		l.err = err
	}
	if l.n > l.max {
		return n, errTooLarge
	}
	return n, err
}

// readAll reads r to its end, sized by the announced length when known,
// into scratch when that size fits in it (growing past it copies out, as
// append does).
func readAll(r *limitedReader, length int64, scratch []byte) ([]byte, error) {
	size := int64(512)
	if length >= 0 {
		// One more byte, so the end is seen without growing.
		size = length + 1
	}
	var b []byte
	if size <= int64(len(scratch)) {
		b = scratch[:0:size]
	} else {
		b = make([]byte, 0, size)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// isJSON reports whether a Content-Type is application/json or a +json
// type such as application/problem+json.
func isJSON(ct string) bool {
	if ct == "application/json" {
		// What nearly every JSON API sends, decided by one comparison.
		return true
	}
	mt := mediaType(ct)
	return strings.EqualFold(mt, "application/json") ||
		len(mt) > len("+json") && strings.EqualFold(mt[len(mt)-len("+json"):], "+json") && strings.Contains(mt, "/")
}

// mediaType returns ct without parameters, cut to a length fit for a
// message.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if len(mt) > 64 {
		mt = mt[:64]
	}
	return mt
}
