package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or serving a request
	stateIdle                // waiting for a request's first byte
	stateClosed              // closed by Shutdown or Close
)

const (
	// bufSize is the size of a connection's read and write buffers.
	bufSize = 4 << 10
	// maxPostHandlerRead is how much of a request body the handler left
	// unread the server reads and drops to keep the connection; more
	// closes it (net/http's figure).
	maxPostHandlerRead = 256 << 10
	// watchAfter is how long a request runs before the server starts to
	// watch its connection for the client going away.
	watchAfter = 100 * time.Millisecond
)

// h2Preface opens every HTTP/2 connection with prior knowledge.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// aLongTimeAgo is a deadline in the past: it wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// conn is one client connection: the goroutine of serve owns it, but for
// the watch (a read started for a long request, under wmu) and Shutdown
// (state).
type conn struct {
	s      *Server
	rwc    net.Conn
	remote string
	// tls is the connection's TLS state (nil for plain TCP), Request.TLS
	// of each of its requests.
	tls     *tls.ConnectionState
	baseCtx context.Context
	br      *bufio.Reader
	bw      *bufio.Writer
	state   atomic.Int32

	// scratch and lines are the header reader's reused storage, hbuf
	// the response header's, out the response body's buffer, tmp the
	// status line's and numbers'.
	scratch []byte
	lines   []span
	tmp     [64]byte
	hbuf    []byte
	out     []byte
	header  http.Header
	date    dateCache
	// res is the answer of the request being served, cleared when it is
	// done: like the header map, no handler may keep it past its return.
	res response
	// lastPOST: the request before was a POST (see serve).
	lastPOST bool
	// idleUntil is the read deadline armIdle set last, zero once any
	// other read deadline may have been set since (setReadDeadline).
	// Only the serving goroutine uses it.
	idleUntil time.Time
	hijacked  bool
	// readerBusy: a request body's read may still be in progress on br
	// (a goroutine the handler left), so br must not go back to the pool.
	readerBusy bool

	// The watch of the current request, under wmu. The timer is not
	// stopped between requests: due is when it fires, begun when the
	// current request began (see begin and watchDue).
	wmu         sync.Mutex
	timer       *time.Timer
	due, begun  time.Time
	cancel      context.CancelFunc
	running     bool // a handler runs
	bodyDone    bool // its body was read to the end, or it has none
	quiet       bool // and nothing of a next request is buffered
	watchWanted bool // the request has run for watchAfter
	watching    bool // a watch read is in progress
	watched     bool // a watch started during the request
	aborting    bool // the server is stopping the watch read
	gone        bool // the watch saw the client go away
	watchDone   chan struct{}

	// cmu orders the body reader's 100 Continue with the answer's header.
	cmu      sync.Mutex
	answered bool // the final answer's header went out
}

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{s: s, rwc: rwc, remote: rwc.RemoteAddr().String(), watchDone: make(chan struct{}, 1)}
	if cs, ok := rwc.(connectionStater); ok {
		// A TLS connection, its handshake done: every request on it
		// carries the same state, as on Go's server.
		st := cs.ConnectionState()
		c.tls = &st
	}
	c.baseCtx = context.WithValue(context.Background(), http.LocalAddrContextKey, rwc.LocalAddr())
	c.state.Store(stateIdle)
	return c
}

// connectionStater is a TLS connection whose handshake is done: a
// *tls.Conn, or a type that wraps one and keeps its ConnectionState.
type connectionStater interface {
	ConnectionState() tls.ConnectionState
}

// serve reads and serves requests until the connection ends.
func (c *conn) serve() {
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.rwc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.rwc)
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			c.logPanic(p)
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		if !c.hijacked {
			c.bw.Flush()
			c.rwc.Close()
			if !c.readerBusy {
				c.br.Reset(nil)
				readerPool.Put(c.br)
			}
			c.bw.Reset(nil)
			writerPool.Put(c.bw)
		}
		c.s.forget(c)
	}()
	first := true
	for {
		if !c.awaitRequest(first) {
			return
		}
		if first {
			first = false
			if c.isH2Preface() {
				c.handOver()
				return
			}
		}
		more := c.serveOne()
		// The finished request's answer lets go of the request, its
		// body and the upstream's values while the connection idles.
		c.res = response{}
		if !more {
			return
		}
	}
}

// awaitRequest waits for the first byte of the next request, within the
// idle timeout (the header timeout for a connection's first request), and
// marks the connection active. It reports false when the connection is to
// end.
func (c *conn) awaitRequest(first bool) bool {
	if c.br.Buffered() == 0 {
		if c.bw.Buffered() > 0 {
			if c.bw.Flush() != nil {
				return false
			}
		}
		c.state.Store(stateIdle)
		if c.s.shutdown.Load() {
			return false
		}
		d := c.s.idleTimeout()
		if first {
			d = c.s.ReadHeaderTimeout
			if d == 0 {
				d = c.s.ReadTimeout
			}
		}
		switch {
		case d <= 0:
			c.setReadDeadline(time.Time{})
		case first:
			c.setReadDeadline(time.Now().Add(d))
		default:
			c.armIdle(time.Now(), d)
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return false // closed by Shutdown meanwhile
		}
	} else {
		c.state.Store(stateActive)
	}
	if c.lastPOST {
		// RFC 9112 §2.2: a server should ignore empty lines before a
		// request line; net/http drops up to four CR or LF bytes after
		// a POST, for old clients that add a CRLF after the body.
		n := c.br.Buffered()
		if n > 4 {
			n = 4
		}
		peek, _ := c.br.Peek(n)
		i := 0
		for i < len(peek) && (peek[i] == '\r' || peek[i] == '\n') {
			i++
		}
		c.br.Discard(i)
		c.lastPOST = false
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return false
			}
		}
	}
	return true
}

// armIdle bounds the wait for the next request on a kept-alive
// connection to idle d from now: at least d, at most an eighth of d (a
// second at most) more. A read deadline costs a timer update; one the
// connection already has within those bounds stays, so a busy connection
// re-arms once per that slack instead of once per request. The bound is
// later, never earlier, than d: a client may keep an idle connection for
// just under the server's idle timeout and must not find it closed.
func (c *conn) armIdle(now time.Time, d time.Duration) {
	want := now.Add(d)
	latest := want.Add(min(d/8, time.Second))
	if !c.idleUntil.IsZero() && !c.idleUntil.Before(want) && !c.idleUntil.After(latest) {
		return
	}
	c.rwc.SetReadDeadline(latest)
	c.idleUntil = latest
}

// setReadDeadline sets the connection's read deadline for anything but
// the idle wait, which armIdle then sets anew.
func (c *conn) setReadDeadline(t time.Time) {
	c.idleUntil = time.Time{}
	c.rwc.SetReadDeadline(t)
}

// isH2Preface reports whether the connection opens with the HTTP/2
// preface, reading no more than the preface.
func (c *conn) isH2Preface() bool {
	for n := 1; n <= len(h2Preface); n++ {
		if c.br.Buffered() < n {
			// Wait for one more byte only while what came is a prefix.
			if _, err := c.br.Peek(n); err != nil {
				return false
			}
		}
		b, _ := c.br.Peek(n)
		if b[n-1] != h2Preface[n-1] {
			return false
		}
	}
	return true
}

// handOver gives the connection, with what was read of it, to the HTTP/2
// server.
func (c *conn) handOver() {
	if c.s.H2C == nil {
		c.refuse(errUnsupported)
		return
	}
	c.rwc.SetReadDeadline(time.Time{})
	n := c.br.Buffered()
	buffered, _ := c.br.Peek(n)
	rc := &replayConn{Conn: c.rwc, pending: append([]byte(nil), buffered...)}
	c.hijacked = true
	c.s.forget(c)
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.s.H2C(rc)
}

// serveOne reads one request and answers it. It reports whether the
// connection may carry another.
func (c *conn) serveOne() bool {
	t0 := time.Now()
	var hdrDeadline, wholeDeadline time.Time
	if d := c.s.ReadHeaderTimeout; d > 0 {
		hdrDeadline = t0.Add(d)
	}
	if d := c.s.ReadTimeout; d > 0 {
		wholeDeadline = t0.Add(d)
	}
	if hdrDeadline.IsZero() || (!wholeDeadline.IsZero() && wholeDeadline.Before(hdrDeadline)) {
		hdrDeadline = wholeDeadline
	}
	// Setting a deadline costs a timer update: when the whole header
	// block is already in the buffer, no read waits for it, and the
	// deadline left by awaitRequest stands until the next one is set.
	headerIn := headerBuffered(c.br)
	if !headerIn {
		c.setReadDeadline(hdrDeadline)
	}

	h, scratch, lines, err := readHead(c.br, c.scratch, c.lines, c.s.maxHeader())
	c.scratch, c.lines = scratch, lines
	if len(c.scratch) > 8*bufSize {
		c.scratch = nil // do not keep a huge block's buffer
	}
	if err != nil {
		var rf *refusal
		if errors.As(err, &rf) {
			c.refuse(rf)
		}
		return false
	}
	var base http.Request
	fs, err := parseRequest(h, &base)
	if err != nil {
		var rf *refusal
		if errors.As(err, &rf) {
			c.refuse(rf)
		}
		return false
	}
	if base.ContentLength != 0 && (headerIn || !hdrDeadline.Equal(wholeDeadline)) {
		// The body's reads are bounded by read_timeout from the start
		// of the request. Without a body no read happens until the
		// next request (or the watch), which set their own.
		c.setReadDeadline(wholeDeadline)
	}
	if d := c.s.WriteTimeout; d > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(d))
	}
	base.RemoteAddr = c.remote
	base.TLS = c.tls
	c.lastPOST = base.Method == http.MethodPost
	ctx, cancel := context.WithCancel(c.baseCtx)
	if c.s.Context != nil {
		ctx = c.s.Context(ctx, t0, h.names)
	}
	r := base.WithContext(ctx)

	var b *body
	switch {
	case r.ContentLength > 0:
		b = &body{c: c, br: c.br, remaining: r.ContentLength, req: r}
	case r.ContentLength < 0:
		b = &body{c: c, br: c.br, chunked: true, req: r}
	}
	if fs&hasExpect != 0 && len(r.Header["Expect"]) > 0 {
		cont, err := expectation(r)
		if err != nil {
			cancel()
			c.refuse(errExpectation)
			return false
		}
		if b != nil {
			b.expect = cont
		}
	}

	if b != nil {
		r.Body = b
	} else {
		r.Body = http.NoBody
	}
	// The header map is the connection's, emptied for each request: no
	// handler may keep it past its return.
	if c.header == nil {
		c.header = make(http.Header, 8)
	} else {
		clear(c.header)
	}
	w := &c.res
	*w = response{c: c, req: r, body: b, header: c.header, contentLength: -1}
	w.wants10KeepAlive = r.ProtoMajor == 1 && r.ProtoMinor == 0 && !r.Close

	c.begin(t0, cancel, b == nil)
	ok := c.run(w, r)
	c.end()
	cancel()
	if c.hijacked {
		return false
	}
	if !ok {
		// The handler aborted the answer: whatever was written goes
		// out, and the connection ends so the client sees it cut.
		c.bw.Flush()
		c.sealBody(b)
		return false
	}
	if !w.finish() {
		c.sealBody(b)
		return false
	}
	// A body a goroutine of the handler's still reads, or that the
	// handler left unread (full duplex, or too much to drop), ends the
	// connection: nothing after it can be read as the next request.
	whole := c.sealBody(b)
	if !whole || c.gone || r.Close || w.closeAfter || c.s.shutdown.Load() {
		c.bw.Flush()
		if !whole && !c.gone && !c.readerBusy {
			// The client may still be sending the body: closing now
			// would reset the connection and lose the answer.
			c.closeWriteAndDrain()
		}
		return false
	}
	return true
}

// closeWriteAndDrain ends the connection's sending side and reads and
// drops what the client still sends, so that the close does not reset the
// connection (and the answer with it) under a client still writing its
// body: as NGINX's lingering close, for as long as bytes keep coming
// within lingerIdle of each other, up to lingerTotal in all.
func (c *conn) closeWriteAndDrain() {
	tc, ok := c.rwc.(interface{ CloseWrite() error })
	if !ok {
		return
	}
	tc.CloseWrite()
	end := time.Now().Add(lingerTotal)
	buf := make([]byte, 32<<10)
	for {
		d := time.Now().Add(lingerIdle)
		if d.After(end) {
			d = end
		}
		c.rwc.SetReadDeadline(d)
		if _, err := c.rwc.Read(buf); err != nil {
			return
		}
	}
}

// The lingering close's bounds (NGINX: lingering_timeout 5s,
// lingering_time 30s; shorter here, the client has its answer already).
const (
	lingerIdle  = 500 * time.Millisecond
	lingerTotal = 5 * time.Second
)

// run runs the handler and reports whether it returned normally.
func (c *conn) run(w *response, r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.logPanic(p)
			}
			ok = false
		}
	}()
	c.s.Handler.ServeHTTP(w, r)
	return true
}

func (c *conn) logPanic(p any) {
	if c.s.Logger != nil {
		c.s.Logger.Error("panic serving a connection", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
	}
}

// refuse answers a request refused before any handler and lets the client
// read the answer before the connection closes.
func (c *conn) refuse(rf *refusal) {
	var b []byte
	if c.s.Refuse != nil {
		b = c.s.Refuse(rf.status, rf.msg)
	} else {
		text := strconv.Itoa(rf.status) + " " + http.StatusText(rf.status) + ": " + rf.msg
		b = []byte("HTTP/1.1 " + strconv.Itoa(rf.status) + " " + http.StatusText(rf.status) +
			"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: " +
			string(c.date.get()) + "\r\nContent-Length: " +
			strconv.Itoa(len(text)) + "\r\n\r\n" + text)
	}
	if d := c.s.WriteTimeout; d > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(d))
	} else {
		c.rwc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	c.bw.Write(b)
	if c.bw.Flush() == nil {
		c.closeWriteAndDrain()
	}
}

// writeContinue sends 100 Continue, unless the final answer has started.
func (c *conn) writeContinue() error {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.answered {
		return nil
	}
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// begin starts the watch clock of a request that began at now. The timer
// set for an earlier request is left when it fires at least half a window
// from now: watchDue then waits out the rest of this request's window. On
// a connection that carries a request every few milliseconds this leaves
// out most timer updates (each takes a lock and a heap operation).
func (c *conn) begin(now time.Time, cancel context.CancelFunc, noBody bool) {
	c.wmu.Lock()
	c.cancel = cancel
	c.running = true
	c.begun = now
	c.bodyDone = noBody
	c.quiet = noBody && c.br.Buffered() == 0
	c.watchWanted, c.watching, c.aborting = false, false, false
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.watchDue)
		c.due = now.Add(watchAfter)
	} else if c.due.Sub(now) < watchAfter/2 {
		c.timer.Reset(watchAfter)
		c.due = now.Add(watchAfter)
	}
	c.wmu.Unlock()
	c.cmu.Lock()
	c.answered = false
	c.cmu.Unlock()
}

// watchDue runs when the timer fires. A request that has run for
// watchAfter is watched from now on (a read watches the connection, once
// the body is in); one that began later waits out the rest of its window.
func (c *conn) watchDue() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.running {
		return
	}
	now := time.Now()
	if left := watchAfter - now.Sub(c.begun); left > 0 {
		c.timer.Reset(left)
		c.due = now.Add(left)
		return
	}
	c.watchWanted = true
	c.startWatchLocked()
}

// bodyEOF is called by the body reader at the body's end, on the goroutine
// that read it.
func (c *conn) bodyEOF() {
	quiet := c.br.Buffered() == 0
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.bodyDone, c.quiet = true, quiet
	c.startWatchLocked()
}

func (c *conn) startWatchLocked() {
	if c.running && c.watchWanted && c.bodyDone && c.quiet && !c.watching {
		c.watching, c.watched = true, true
		go c.watch()
	}
}

// watch reads the connection while a handler runs, to learn that the
// client went away (end of stream, reset): then the request's context is
// canceled. A byte that arrives (a pipelined next request) stays in the
// reader; so does the watch's end when the server stops it.
func (c *conn) watch() {
	if testHookWatch != nil {
		testHookWatch()
	}
	// The request's read deadline is for its body, which is in: a long
	// answer must not look like a client gone. Under wmu, and only while
	// end has not begun to stop the watch: clearing the deadline after
	// end set it in the past would leave this read, and end, waiting for
	// a client that waits for the answer.
	c.wmu.Lock()
	if c.aborting {
		c.watching = false
		c.wmu.Unlock()
		c.watchDone <- struct{}{}
		return
	}
	c.rwc.SetReadDeadline(time.Time{})
	c.wmu.Unlock()
	_, err := c.br.Peek(1)
	c.wmu.Lock()
	if err != nil && !c.aborting {
		c.gone = true
		c.cancel()
	}
	c.watching = false
	c.wmu.Unlock()
	c.watchDone <- struct{}{}
}

// end stops the watch of the request whose handler returned (or hijacked
// the connection). Only the serving goroutine calls it.
func (c *conn) end() {
	c.wmu.Lock()
	c.running = false
	w := c.watching
	if w {
		c.aborting = true
	}
	if c.watched {
		// A watch, ended or not, cleared the read deadline.
		c.watched = false
		c.idleUntil = time.Time{}
	}
	c.wmu.Unlock()
	if w {
		// The watch cleared the deadline, and this sets others.
		c.setReadDeadline(aLongTimeAgo)
		<-c.watchDone
		if !c.gone {
			// The aborted read may have left an error in the reader
			// (bufio keeps none past Peek), and the next read sets its
			// own deadline.
			c.setReadDeadline(time.Time{})
		}
	}
}

// hijack hands the connection to the handler.
func (c *conn) hijack() (net.Conn, *bufio.ReadWriter) {
	c.end()
	c.hijacked = true
	c.s.forget(c)
	c.rwc.SetDeadline(time.Time{})
	return c.rwc, bufio.NewReadWriter(c.br, c.bw)
}

// replayConn is a connection whose first reads return bytes already read
// from it.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// lost records that the connection failed under a request body: the
// request's context ends, and the connection is not reused.
func (c *conn) lost(err error) {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.running {
		// A read timeout is the server's limit, not a client gone: the
		// client may still read the 408.
		c.gone = c.gone || !timeout
		c.cancel()
	}
}

// headerBuffered reports whether br holds a whole header block (up to the
// empty line) already. A request without a body, read alone, ends the
// buffer with the empty line: that is looked at first, before a search.
func headerBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.HasSuffix(b, crlfcrlf) || bytes.Contains(b, crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// sealBody ends b's use by the request: every later Read fails, so a
// goroutine the handler left behind cannot read the connection's next
// request or another connection's bytes. It reports whether b was read to
// its end with no read in progress, the condition for reading another
// request on the connection.
func (c *conn) sealBody(b *body) bool {
	if b == nil {
		return true
	}
	if !b.mu.TryLock() {
		// A Read is under way on br right now.
		b.sealed.Store(true)
		c.readerBusy = true
		return false
	}
	defer b.mu.Unlock()
	b.sealed.Store(true)
	return b.sawEOF && b.err == nil
}

// testHookWatch, when set by a test, runs first in every watch.
var testHookWatch func()
