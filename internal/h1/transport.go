package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// ErrUnsupported is returned, before anything is sent, for a request this
// client does not handle (see the package doc); net/http's Transport can.
var ErrUnsupported = errors.New("h1: request not supported by the HTTP/1.1 fast path")

// NotSentError is the error of a request of which no byte went out:
// dialing failed, or the first write to the connection did. The upstream
// cannot have seen it, so it may go to another target whatever its method;
// its body, though, may have been read, and must come from the caller's
// own copy. Err is the cause, which errors.As and errors.Is see through
// (a dial's *net.OpError, say).
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return e.Err.Error() }
func (e *NotSentError) Unwrap() error { return e.Err }

// MaxBody is the largest request body sent: one written on the caller's
// goroutine must fit the socket buffers even if the upstream answers
// without reading it.
const MaxBody = 64 << 10

// Defaults for the zero fields of Transport.
const (
	defaultDialTimeout     = 2 * time.Second
	defaultIdleConnTimeout = 90 * time.Second
	defaultMaxIdlePerAddr  = 256
	defaultMaxHeaderBytes  = 1 << 20
	// max1xx bounds the informational answers read before the final one.
	max1xx = 5
	// watchAfter is how long a request runs before its context is watched
	// (see conn); a client that went away is noticed within it.
	watchAfter = 100 * time.Millisecond
)

// Transport is an HTTP/1.1 RoundTripper for http:// URLs, and for https://
// URLs when TLSClientConfig is set. The zero value is ready to use; set
// fields before the first request. Safe for concurrent use.
type Transport struct {
	// DialTimeout bounds connecting; ResponseHeaderTimeout bounds writing
	// the request and reading the response header (0: no bound other than
	// the request's context).
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout is how long an idle connection is kept.
	IdleConnTimeout time.Duration
	// MaxIdlePerAddr bounds the idle connections kept per address.
	MaxIdlePerAddr int
	// MaxResponseHeaderBytes bounds the response header.
	MaxResponseHeaderBytes int64
	// KeepAlive is the TCP keep-alive period of new connections (0: Go's
	// default, negative: off).
	KeepAlive time.Duration
	// TLSClientConfig, when set, lets the transport take https:// URLs
	// (see tls.go); nil refuses them with ErrUnsupported. It is not
	// modified: each address gets a clone whose ALPN offers http/1.1
	// only and whose ServerName, when empty, is the URL's host.
	TLSClientConfig *tls.Config

	// pools and tlsPools map an address to its *pool, for http:// and
	// https:// URLs.
	pools, tlsPools sync.Map
	// sessions is the TLS session cache of the https:// pools, created
	// with the first one when TLSClientConfig has none.
	sessionsOnce sync.Once
	sessions     tls.ClientSessionCache
	// now is the clock of idle times; nil means time.Now.
	now func() time.Time
}

var _ http.RoundTripper = (*Transport)(nil)

// heads are the buffers request heads are built in (appendHead), one per
// Send; a head larger than maxPooledHead is not kept.
var heads = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledHead = 16 << 10

// Supports reports whether RoundTrip would take req rather than refuse it
// with ErrUnsupported.
func (t *Transport) Supports(req *http.Request) bool {
	return t.takes(req, nil)
}

// takes is Supports for req sent with ob's fields: with a Block, the
// fields that decide are the Block's, looked at once when it was made.
func (t *Transport) takes(req *http.Request, ob *Outbound) bool {
	u := req.URL
	if u == nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return false
	}
	if u.Scheme != "http" && (u.Scheme != "https" || t.TLSClientConfig == nil) {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace:
	default:
		// CONNECT and extension methods take net/http's checks.
		return false
	}
	if hasBody(req) {
		if req.ContentLength <= 0 || req.ContentLength > MaxBody {
			return false
		}
	} else if req.ContentLength > 0 {
		return false
	}
	if len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 {
		return false
	}
	if ob != nil && ob.Block != nil {
		return !ob.Block.handsOff
	}
	return !handsOff(req.Header)
}

// handsOff reports whether h holds a field whose protocol this client
// leaves to net/http: Upgrade (a protocol switch) or Expect (100-continue).
func handsOff(h http.Header) bool {
	if _, ok := h["Upgrade"]; ok {
		return true
	}
	_, ok := h["Expect"]
	return ok
}

func hasBody(req *http.Request) bool { return req.Body != nil && req.Body != http.NoBody }

// RoundTrip sends req and returns the response, whose body must be read to
// its end or closed. Informational answers go to the request's
// httptrace.ClientTrace Got1xxResponse.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var info Informer
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
		info = traceInformer{trace}
	}
	res, err := t.Send(ctx, req, info)
	if err == ErrUnsupported {
		// A RoundTripper closes the body, even on an error.
		closeBody(req)
	}
	return res, err
}

// Informer receives the informational (1xx) answers that come before the
// final one, such as 103 Early Hints. h is valid during the call only: the
// next answer reuses its values.
type Informer interface {
	Informational(code int, h http.Header) error
}

type traceInformer struct{ t *httptrace.ClientTrace }

func (ti traceInformer) Informational(code int, h http.Header) error {
	return ti.t.Got1xxResponse(code, textproto.MIMEHeader(h))
}

// Send is RoundTrip with the context given apart from the request, so a
// caller can reuse its request values, and informational answers passed to
// info (nil: skipped). It returns ErrUnsupported, having sent nothing,
// when t.Supports(req) is false.
func (t *Transport) Send(ctx context.Context, req *http.Request, info Informer) (*http.Response, error) {
	return t.SendOutbound(ctx, req, nil, info)
}

// Outbound changes which header fields SendOutbound writes: the fields of
// req.Header that Keep accepts (given each name and req.Header's
// Connection values; all when Keep is nil), then Extra, whose fields
// replace req.Header's of the same name. A proxy can so send the client's
// header as it came, with the fields it adds, without building a header
// map for each request. Every field written is checked as Send checks it.
//
// Block, when set, is written in place of req.Header's fields (Keep and
// Extra must then be empty): fields checked and serialized once by
// NewBlock, for a caller that sends one header in several requests. Its
// fields, not req.Header's, then decide whether the client takes the
// request (Supports' Upgrade and Expect), as NewBlock found them.
//
// List asks for the answer's header as a list when it can be one: when the
// final answer's header holds no Connection, Transfer-Encoding or Trailer
// field and at most one Content-Length, the Response's Header is nil and
// SendOutbound sets Answer to the header's names and values, alternating,
// names canonical, in the order they came; otherwise Answer is nil and the
// Header is the map. Answer's strings and slice are the response's alone
// and stay valid as long as anything holds them. A proxy that copies the
// header to its client so builds no map for it. An Outbound without List
// is only read, so concurrent sends may share one; one with List is
// written, and is one send's.
//
// Room, when set, is where the answer is read (see Answer); an Outbound
// with a Room is one send's too.
type Outbound struct {
	Keep  func(name string, connection []string) bool
	Extra []wire.Field
	Block *Block
	List  bool
	Room  *Answer

	Answer []string
}

// Block is a request header's fields, checked and written once. Only
// NewBlock fills one, so every field of it passed the checks every field
// the transport writes passes (the zero Block holds no field).
type Block struct {
	lines    []byte
	conn     bool // it holds Connection
	handsOff bool // it holds a field that hands the request to net/http
}

// NewBlock checks and writes the fields of h as a request whose header is
// h has them written, or returns the error that request would get.
func NewBlock(h http.Header) (Block, error) {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	b := make([]byte, 0, n)
	var err error
	for k, vs := range h {
		if b, err = appendField(b, k, vs...); err != nil {
			return Block{}, err
		}
	}
	return Block{lines: b, conn: sendsConnection(h, nil), handsOff: handsOff(h)}, nil
}

// SendOutbound is Send with the header fields ob says (nil: req.Header's).
func (t *Transport) SendOutbound(ctx context.Context, req *http.Request, ob *Outbound, info Informer) (*http.Response, error) {
	var p Pending
	if err := t.start(ctx, req, ob, &p, true); err != nil {
		return nil, err
	}
	return p.Finish(info)
}

// Pending is a request written to a connection whose answer is not read
// yet (Transport.Start): a caller with several requests to make writes
// them all, then reads the answers, on one goroutine, where each would
// otherwise need its own. A Pending is one goroutine's at a time; it is
// either finished (Finish) or closed (Close), once.
type Pending struct {
	// Slow, when set, is called once during Finish, on its goroutine, when
	// the answer has not begun within a short window after the request
	// went out (100 ms; the context's deadline, if sooner), or at once on
	// a connection that has no such window (TLS, which watches the
	// context from the start). A caller reading several answers one after
	// another hands the rest to other goroutines there, so that an answer
	// that ends them all (a failure) is not held up behind a slow one.
	Slow func()

	t    *Transport
	ctx  context.Context
	req  *http.Request
	ob   *Outbound
	hp   *[]byte
	head []byte
	pool *pool
	c    *conn
}

// Start writes req on a connection, as SendOutbound would, and returns
// without reading the answer: p.Finish reads it. It fails as SendOutbound
// fails for anything that happens before the answer (ErrUnsupported, a
// header that cannot be written, a NotSentError); p is then not to be
// finished or closed. ob, when not nil, must stay unchanged and, with
// List, be p's alone, until Finish returns.
func (t *Transport) Start(ctx context.Context, req *http.Request, ob *Outbound, p *Pending) error {
	return t.start(ctx, req, ob, p, false)
}

// start is Start; wait says the answer is read right after, so the write
// may wait for it (conn.send).
func (t *Transport) start(ctx context.Context, req *http.Request, ob *Outbound, p *Pending, wait bool) error {
	if !t.takes(req, ob) {
		return ErrUnsupported
	}
	// Built and checked before a connection is taken: neither a refused
	// request nor a finished context may cost the pool a connection.
	hp := heads.Get().(*[]byte)
	head, err := appendHead((*hp)[:0], req, ob)
	if cap(head) <= maxPooledHead {
		*hp = head
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		heads.Put(hp)
		closeBody(req)
		return err
	}
	*p = Pending{Slow: p.Slow, t: t, ctx: ctx, req: req, ob: ob, hp: hp, head: head, pool: t.pool(req.URL.Host, req.URL.Scheme == "https")}
	if err := p.send(wait); err != nil {
		p.done()
		return err
	}
	return nil
}

// send writes the request on a pooled or new connection, and on further
// ones as long as a failure allows it (retry).
func (p *Pending) send(wait bool) error {
	t, ctx, req := p.t, p.ctx, p.req
	for {
		// One clock reading for the pool and the request's deadlines
		// when the connection comes from the pool; a dial reads it again.
		now := time.Now()
		c, err := p.pool.get(ctx, t, now)
		if err != nil {
			closeBody(req)
			return err
		}
		if !c.reused {
			now = time.Now()
		}
		if p.ob != nil && p.ob.List {
			// Only an Outbound that asks for a list is written to: one
			// without may be shared by concurrent sends (an aggregate's
			// Block).
			p.ob.Answer = nil
		}
		c.start(ctx, t.ResponseHeaderTimeout, now)
		if wait {
			err = c.send(p.head, req)
		} else {
			err = writeRequest(c.bw, p.head, req)
		}
		if err == nil {
			p.c = c
			return nil
		}
		c.unwatch()
		if err = p.retry(c, err); err != nil {
			return err
		}
	}
}

// retry closes c, which failed the request with err, and says whether the
// request may go again on another connection (nil) or fails (the error
// to return).
func (p *Pending) retry(c *conn, err error) error {
	ctx, req := p.ctx, p.req
	c.close()
	if ctx.Err() == nil && c.unsent() {
		if c.reused && !hasBody(req) {
			// Nothing went out and there is nothing to rewind: any
			// method can go on another connection.
			return nil
		}
		closeBody(req)
		return &NotSentError{Err: err}
	}
	if !c.reused || !c.fresh() || !staleConn(err) || !replayable(req) || ctx.Err() != nil {
		closeBody(req)
		return ctxErr(ctx, err)
	}
	// The upstream closed the idle connection before answering; the
	// request can go again on another one.
	return nil
}

// Finish reads the answer of the request Start wrote, as SendOutbound
// does: the response, whose body must be read to its end or closed, or the
// error, having sent the request again on a new connection where
// SendOutbound would.
func (p *Pending) Finish(info Informer) (*http.Response, error) {
	defer p.done()
	for {
		c := p.c
		if p.Slow != nil {
			if c.secure {
				slow := p.Slow
				p.Slow = nil
				slow()
			} else {
				// Kept through the body too, until the connection is
				// released or closed.
				c.slow = p.Slow
			}
		}
		res, err := p.t.receive(p.ctx, c, p.req, p.ob, info)
		if err == nil {
			return res, nil
		}
		if c.slowCalled {
			p.Slow = nil
		}
		p.c = nil
		if err = p.retry(c, err); err != nil {
			return nil, err
		}
		if err := p.send(true); err != nil {
			return nil, err
		}
	}
}

// Close gives up on the answer of the request Start wrote: the connection
// is closed, as the upstream may still answer on it.
func (p *Pending) Close() {
	if c := p.c; c != nil {
		c.unwatch()
		c.close()
	}
	p.done()
}

// done ends p: the head's buffer goes back to the pool.
func (p *Pending) done() {
	p.c = nil
	if p.hp != nil {
		heads.Put(p.hp)
		p.hp, p.head = nil, nil
	}
}

// receive reads the response header of the request written on c, as a
// list when ob asks for one (ob.Answer).
func (t *Transport) receive(ctx context.Context, c *conn, req *http.Request, ob *Outbound, info Informer) (*http.Response, error) {
	asList := ob != nil && ob.List
	c.limit = t.maxHeaderBytes()
	var a *answer
	if ob != nil && ob.Room != nil {
		a = &ob.Room.a
	} else {
		a = new(answer)
	}
	var res *http.Response
	var list []string
	for n := 0; ; n++ {
		var err error
		res, list, err = c.readResponse(req, a, asList)
		if err != nil {
			c.unwatch()
			if c.tooLarge {
				err = fmt.Errorf("h1: response header larger than %d bytes", t.maxHeaderBytes())
			}
			return nil, err
		}
		code := res.StatusCode
		if code >= 200 {
			break
		}
		if code == http.StatusSwitchingProtocols || n == max1xx {
			c.unwatch()
			return nil, fmt.Errorf("h1: unexpected informational response %d", code)
		}
		if info != nil {
			if err := info.Informational(code, res.Header); err != nil {
				c.unwatch()
				return nil, err
			}
		}
	}
	c.limit = -1
	if asList {
		ob.Answer = list
	}
	// A body already buffered is read without touching the socket: the
	// deadline can stay until the next request replaces it, which saves
	// a timer update per request. Otherwise the header's deadline must
	// not cut a slow body short.
	if res.Body != http.NoBody && (res.ContentLength < 0 || int64(c.br.Buffered()) < res.ContentLength) {
		c.startBody()
	}
	keep := !res.Close && !req.Close
	if res.Body == http.NoBody {
		c.release(t, keep)
		return res, nil
	}
	b := &a.body
	*b = body{c: c, t: t, ctx: ctx, keep: keep, res: res, remaining: res.ContentLength}
	if res.TransferEncoding != nil {
		b.chunked = newChunkedReader(c.br)
	}
	res.Body = b
	return res, nil
}

// staleConn reports whether err is how a connection the upstream closed
// while it sat idle fails: an end of stream, a reset or a broken pipe. A
// timeout is not: the upstream may be working on the request.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// replayable reports whether req may be sent again after a connection
// failed under it, as net/http decides: no body, and a method that is
// idempotent or an idempotency key.
func replayable(req *http.Request) bool {
	if hasBody(req) {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	_, xok := req.Header["X-Idempotency-Key"]
	return ok || xok
}

func closeBody(req *http.Request) {
	if hasBody(req) {
		_ = req.Body.Close()
	}
}

// ctxErr prefers the context's error: a canceled request's read fails with
// a deadline error that says nothing of why.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes > 0 {
		return t.MaxResponseHeaderBytes
	}
	return defaultMaxHeaderBytes
}

func (t *Transport) pool(addr string, secure bool) *pool {
	pools := &t.pools
	if secure {
		pools = &t.tlsPools
	}
	if v, ok := pools.Load(addr); ok {
		return v.(*pool)
	}
	dialAddr := addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		// No port: the scheme's default, around a host that may be an
		// IPv6 literal in brackets.
		host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
		port := "80"
		if secure {
			port = "443"
		}
		dialAddr = net.JoinHostPort(host, port)
	}
	p := &pool{addr: dialAddr}
	if secure {
		p.tls = t.tlsConfig(dialAddr)
	}
	v, _ := pools.LoadOrStore(addr, p)
	return v.(*pool)
}

// CloseIdleConnections closes the connections not in use.
func (t *Transport) CloseIdleConnections() {
	for _, pools := range []*sync.Map{&t.pools, &t.tlsPools} {
		pools.Range(func(_, v any) bool {
			v.(*pool).closeIdle()
			return true
		})
	}
}

// IdleConns returns how many idle connections the pools hold.
func (t *Transport) IdleConns() int {
	n := 0
	for _, pools := range []*sync.Map{&t.pools, &t.tlsPools} {
		pools.Range(func(_, v any) bool {
			p := v.(*pool)
			p.mu.Lock()
			n += len(p.idle)
			p.mu.Unlock()
			return true
		})
	}
	return n
}

func (t *Transport) clock() time.Time { return t.clockAt(time.Now()) }

// clockAt is clock with the time already read: now, unless a test set
// the transport's clock.
func (t *Transport) clockAt(now time.Time) time.Time {
	if t.now != nil {
		return t.now()
	}
	return now
}

// body is a response body, framed by length, by chunks or by the end of
// the connection; its end gives the connection back.
type body struct {
	c    *conn
	t    *Transport
	ctx  context.Context
	keep bool
	res  *http.Response
	// remaining is what is left of a body of known length, -1 for one
	// read to the end of the connection; chunked, when set, decodes.
	remaining int64
	chunked   io.Reader
	// done is set once the connection was released or closed; err is what
	// further reads return.
	done bool
	err  error
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch {
	case b.chunked != nil:
		n, err = b.chunked.Read(p)
		if err == io.EOF {
			err = b.c.readTrailer(b.res, b.t.maxHeaderBytes())
			if err == nil {
				err = io.EOF
			} else if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		}
	case b.remaining >= 0:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		switch {
		case b.remaining == 0:
			err = io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
	default:
		n, err = b.c.br.Read(p)
	}
	switch {
	case err == io.EOF:
		b.done, b.err = true, io.EOF
		b.c.release(b.t, b.keep)
	case err != nil:
		b.c.unwatch()
		b.c.close()
		err = ctxErr(b.ctx, err)
		b.done, b.err = true, err
	}
	return n, err
}

var errBodyClosed = errors.New("h1: read on closed response body")

// Close ends the body; unread, it closes the connection rather than drain
// an answer of unknown size.
func (b *body) Close() error {
	if b.done {
		if b.err == io.EOF {
			b.err = errBodyClosed
		}
		return nil
	}
	b.done, b.err = true, errBodyClosed
	b.c.unwatch()
	b.c.close()
	return nil
}

// appendHead appends req's request line and header block, the blank line
// included, to b. It refuses what could not be written safely (a Host,
// target, header name or value that would end a line or the request
// early) and checks each field as it writes it, so the header is walked
// once; the head is built before a connection is taken, and nothing of a
// refused request reaches one.
func appendHead(b []byte, req *http.Request, ob *Outbound) ([]byte, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	u := req.URL
	path := u.EscapedPath()
	if path != "" && path[0] != '/' {
		return b, fmt.Errorf("h1: invalid request path %q", path)
	}
	if path == "" {
		path = "/"
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !validHost(host) {
		return b, fmt.Errorf("h1: invalid Host %q", host)
	}
	if !validTarget(path) || !validTarget(u.RawQuery) {
		return b, errors.New("h1: invalid request target")
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, '\r', '\n')
	var keep func(string, []string) bool
	var listed []string
	var extra []wire.Field
	if ob != nil {
		keep, extra = ob.Keep, ob.Extra
		if keep != nil {
			listed = req.Header["Connection"]
		}
	}
	var err error
	if ob != nil && ob.Block != nil {
		if keep != nil || len(extra) > 0 {
			return b, errors.New("h1: an Outbound with a Block takes no Keep or Extra")
		}
		b = append(b, ob.Block.lines...)
	} else {
		for k, vs := range req.Header {
			if keep != nil && !keep(k, listed) || replaced(extra, k) {
				continue
			}
			if b, err = appendField(b, k, vs...); err != nil {
				return b, err
			}
		}
	}
	for i := range extra {
		if b, err = appendField(b, extra[i].Name, extra[i].Value); err != nil {
			return b, err
		}
	}
	if req.Close && !sendsConnection(req.Header, ob) {
		b = append(b, "Connection: close\r\n"...)
	}
	// net/http's rule: a body has a length, and so do the methods servers
	// expect one for.
	if n := bodyLength(req); n > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n'), nil
}

// appendField appends the field k with each of vs, one line a value, after
// checking them. Every field is checked, also those the transport does
// not send: a request that carries one is refused as a whole.
func appendField(b []byte, k string, vs ...string) ([]byte, error) {
	if !wire.ValidFieldName(k) {
		return b, fmt.Errorf("h1: invalid header field name %q", k)
	}
	for _, v := range vs {
		if !wire.ValidFieldValue(v) {
			return b, fmt.Errorf("h1: invalid header field value for %q", k)
		}
	}
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		// The transport owns the framing.
		return b, nil
	case "User-Agent":
		// ReverseProxy sets it empty to mean "send none".
		if len(vs) == 0 || vs[0] == "" {
			return b, nil
		}
	}
	for _, v := range vs {
		b = append(b, k...)
		b = append(b, ':', ' ')
		b = append(b, v...)
		b = append(b, '\r', '\n')
	}
	return b, nil
}

// replaced reports whether an extra field named k replaces the request's.
func replaced(extra []wire.Field, k string) bool {
	for i := range extra {
		if extra[i].Name == k {
			return true
		}
	}
	return false
}

// sendsConnection reports whether the head carries a Connection field of
// the request's own (one it has, even empty, or one ob adds): then req.Close
// adds no "Connection: close".
func sendsConnection(h http.Header, ob *Outbound) bool {
	if ob != nil && ob.Block != nil {
		return ob.Block.conn
	}
	if ob != nil && replaced(ob.Extra, "Connection") {
		return true
	}
	vs, ok := h["Connection"]
	return ok && (ob == nil || ob.Keep == nil || ob.Keep("Connection", vs))
}

// bodyLength is the length of the body writeRequest sends.
func bodyLength(req *http.Request) int64 {
	if hasBody(req) {
		return req.ContentLength
	}
	return 0
}

// waitWriter is a connection that can write a request and wait for its
// answer in one step (socket.Conn on Linux).
type waitWriter interface {
	WriteAndWait(p []byte) int
}

// send writes the request on c. A request with no body to send, on a
// reused plain connection that can (waitWriter), is written straight to
// the socket, which then waits for the answer to be readable: the read
// that follows finds the answer, where it would otherwise first find
// nothing and cost a system call. What that write did not take (it
// stopped on a partial write, an error or a deadline) goes the ordinary
// way, which meets the same condition and reports it as any write does.
//
// Only a reused connection: the pool's check just found nothing waiting
// on it. Bytes already waiting when the wait is armed do not end it (it
// ends on what arrives next, or at the window's deadline), and a new
// connection is not checked: an upstream may speak first.
func (c *conn) send(head []byte, req *http.Request) error {
	if ww, ok := c.nc.(waitWriter); ok && c.reused && bodyLength(req) == 0 && c.bw.Buffered() == 0 {
		n := ww.WriteAndWait(head)
		c.wrote += int64(n)
		if n == len(head) {
			return nil
		}
		head = head[n:]
	}
	return writeRequest(c.bw, head, req)
}

// writeRequest writes head (appendHead's) and req's body to bw, and
// flushes.
func writeRequest(bw *bufio.Writer, head []byte, req *http.Request) error {
	bw.Write(head)
	if n := bodyLength(req); n > 0 {
		copied, err := io.CopyN(bw, req.Body, n)
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("h1: request body shorter than its Content-Length (%d of %d bytes)", copied, n)
			}
			_ = req.Body.Close()
			return err
		}
		_ = req.Body.Close()
	}
	return bw.Flush()
}

// validTarget reports whether a path or query can go into the request
// line: no controls, no spaces.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts what may follow "Host: ": no controls, spaces or
// delimiters that would end the authority.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c == 0x7f, c == '/', c == '?', c == '#', c == '\\':
			return false
		}
	}
	return true
}
