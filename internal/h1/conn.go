package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/socket"
)

// pool holds the idle connections to one address, most recently used last:
// the warm ones are reused first and the cold ones age out.
type pool struct {
	addr string
	// tls is the configuration of an https:// address, nil for http://.
	tls  *tls.Config
	mu   sync.Mutex
	idle []*conn
	// sweep closes the connections that outstayed the idle timeout while
	// nobody asked for one (an address a reload or DNS dropped); armed
	// says it is scheduled. A timer, not a goroutine: nothing runs while
	// the pool is empty.
	sweep *time.Timer
	armed bool
}

// get returns an idle connection, or dials a new one. Every idle
// connection is checked before it is handed out, whatever its idle time
// and the request: one that holds a byte nobody asked for, or that the
// upstream closed, is closed and the next one tried. A dial error is
// returned as a NotSentError.
func (p *pool) get(ctx context.Context, t *Transport, now time.Time) (*conn, error) {
	now = t.clockAt(now)
	for {
		c := p.pop(now, t.idleTimeout())
		if c == nil {
			break
		}
		if c.probe() {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	c, err := p.dial(ctx, t)
	if err != nil {
		return nil, &NotSentError{Err: err}
	}
	return c, nil
}

func (p *pool) pop(now time.Time, timeout time.Duration) *conn {
	p.mu.Lock()
	stale := p.expire(now, timeout)
	var c *conn
	if n := len(p.idle); n > 0 {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	return c
}

// expire removes and returns the connections idle for longer than timeout;
// p.mu is held. The oldest sit at the front.
func (p *pool) expire(now time.Time, timeout time.Duration) []*conn {
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) > timeout {
		i++
	}
	if i == 0 {
		return nil
	}
	stale := append([]*conn(nil), p.idle[:i]...)
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	return stale
}

// put keeps c for reuse; it reports false when the pool is full.
func (p *pool) put(c *conn, t *Transport) bool {
	c.idleAt = t.clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= t.maxIdle() {
		return false
	}
	p.idle = append(p.idle, c)
	if !p.armed {
		p.armed = true
		// Slightly past the timeout, so the sweep finds c expired.
		d := t.idleTimeout() + sweepSlack(t.idleTimeout())
		if p.sweep == nil {
			p.sweep = time.AfterFunc(d, func() { p.sweepIdle(t) })
		} else {
			p.sweep.Reset(d)
		}
	}
	return true
}

func sweepSlack(timeout time.Duration) time.Duration { return timeout/8 + 10*time.Millisecond }

// sweepIdle closes the expired idle connections and schedules itself for
// when the oldest of the others expires.
func (p *pool) sweepIdle(t *Transport) {
	now, timeout := t.clock(), t.idleTimeout()
	p.mu.Lock()
	stale := p.expire(now, timeout)
	if len(p.idle) > 0 {
		p.sweep.Reset(timeout - now.Sub(p.idle[0].idleAt) + sweepSlack(timeout))
	} else {
		p.armed = false
	}
	p.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (p *pool) dial(ctx context.Context, t *Transport) (*conn, error) {
	d := net.Dialer{Timeout: t.DialTimeout, KeepAlive: t.KeepAlive}
	if d.Timeout <= 0 {
		d.Timeout = defaultDialTimeout
	}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	nc = socket.Wrap(nc) // reads and writes as raw system calls
	c := &conn{nc: nc, raw: nc, pool: p, limit: -1}
	if p.tls != nil {
		tc, err := handshake(ctx, nc, p.tls, d.Timeout)
		if err != nil {
			return nil, err
		}
		c.nc, c.secure = tc, true
	}
	c.br = bufio.NewReaderSize(reader{c}, 4<<10)
	c.bw = bufio.NewWriterSize(writer{c}, 4<<10)
	return c, nil
}

// conn is one upstream connection, used by one request at a time.
type conn struct {
	// nc is what requests are written to and answers read from; raw is
	// the TCP connection under it, the same one unless secure (TLS).
	nc     net.Conn
	raw    net.Conn
	secure bool
	br     *bufio.Reader
	bw     *bufio.Writer
	pool   *pool
	// idleAt is when it went back to the pool; reused says it came from
	// there for the current request.
	idleAt time.Time
	reused bool
	// limit is how many more bytes the response header may take (-1: no
	// limit); read counts the bytes read for the current request.
	limit int64
	read  int64
	// tooLarge is set when the header limit was reached. dl is the last
	// deadline set here, zero when none may be set (abort's, from the
	// context's goroutine, is not recorded: an aborted connection is
	// never used again).
	tooLarge bool
	dl       time.Time
	// ctx is the current request's context. It is watched (an AfterFunc
	// that aborts the connection) only once the answer takes longer than
	// watchAfter: most answers come sooner, and registering costs more
	// allocations than the rest of the round trip. Until then (watching)
	// the deadline is at most watchAfter away; until is the deadline that
	// replaces it (the response header's, zero for none), and stop
	// unregisters the watch (nil when there is none).
	ctx      context.Context
	watching bool
	until    time.Time
	stop     func() bool
	// slow is the current answer's Pending.Slow, until it is called
	// (slowCalled) or the connection released or closed.
	slow       func()
	slowCalled bool
	// hbuf, spans and long are the header reader's scratch space.
	hbuf   []byte
	spans  []span
	long   []byte
	closed bool
	// wrote counts the bytes written to the socket for the current
	// request, werr is the first error writing them: a request that
	// failed with wrote 0 reached nobody.
	wrote int64
	werr  error
	// rerr is the first error a read from the connection returned, even
	// with bytes (crypto/tls returns a close_notify read with the data
	// before it that way): such a connection is never pooled.
	rerr error
	prober
}

// probe checks an idle connection before use (see alive).
func (c *conn) probe() bool { return alive(c) }

// start prepares c for a request under ctx, from now (a real clock
// reading); timeout bounds the wait for the response header (0: none).
func (c *conn) start(ctx context.Context, timeout time.Duration, now time.Time) {
	// Whether ctx can end at all is not asked: ctx.Done would allocate
	// the channel of a server request's context.
	c.read, c.ctx, c.stop, c.watching = 0, ctx, nil, true
	c.wrote, c.werr = 0, nil
	c.until = time.Time{}
	if timeout > 0 {
		c.until = now.Add(timeout)
	}
	d := now.Add(watchAfter)
	if !c.until.IsZero() && c.until.Before(d) {
		d = c.until
	}
	if c.secure {
		// A TLS write that hits a deadline breaks the connection (see
		// tls.go): no short window, the context is watched right away.
		c.watching = false
		c.setDeadline(c.until)
		c.stop = context.AfterFunc(ctx, c.abort)
		return
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	c.window(now, d)
}

// window sets the deadline that ends the window before the context is
// watched: d at the latest. A deadline set earlier that ends no later than
// d and at least half a window from now is left as it is: it ends the
// window sooner, which only starts the watch sooner (escalate), never a
// bound later. On a connection that carries a request every few
// milliseconds this leaves out most timer updates, which take a lock and
// a heap operation each.
func (c *conn) window(now, d time.Time) {
	if !c.dl.IsZero() && !c.dl.After(d) && c.dl.Sub(now) >= watchAfter/2 {
		return
	}
	c.setDeadline(d)
}

// setDeadline sets the read and write deadline and records it.
func (c *conn) setDeadline(d time.Time) {
	_ = c.nc.SetDeadline(d)
	c.dl = d
}

// startBody moves c to reading a body that is not buffered yet: no
// deadline, and the window before the context is watched starts again.
func (c *conn) startBody() {
	c.until = time.Time{}
	if !c.watching {
		c.clearDeadline()
		// The watch may have aborted the connection just before: clearing
		// must not undo that.
		if c.ctx.Err() != nil {
			c.abort()
		}
		return
	}
	now := time.Now()
	d := now.Add(watchAfter)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	c.window(now, d)
}

func (c *conn) clearDeadline() {
	if !c.dl.IsZero() {
		c.setDeadline(time.Time{})
	}
}

// escalate is called when a read or write hit the deadline: within the
// window it starts watching the context, sets the real deadline and
// reports true (try again); otherwise the timeout stands.
func (c *conn) escalate() bool {
	if !c.watching {
		return false
	}
	c.watching = false
	if c.ctx.Err() != nil || (!c.until.IsZero() && !time.Now().Before(c.until)) {
		return false
	}
	c.setDeadline(c.until)
	// After the deadline: an abort right away must not be overwritten.
	c.stop = context.AfterFunc(c.ctx, c.abort)
	return true
}

// unwatch ends the watch; false means the context aborted the connection.
func (c *conn) unwatch() bool {
	if c.stop == nil {
		return true
	}
	ok := c.stop()
	c.stop = nil
	return ok
}

// fresh reports whether nothing of the current request's answer was read.
func (c *conn) fresh() bool { return c.read == 0 }

// unsent reports whether the current request failed writing to the
// connection before any byte of it went out.
func (c *conn) unsent() bool { return c.werr != nil && c.wrote == 0 }

// abort unblocks the read or write in progress; it runs on the context's
// goroutine.
func (c *conn) abort() { _ = c.nc.SetDeadline(time.Unix(1, 0)) }

// release ends the current request: the connection goes back to the pool
// when keep allows and the request's context did not abort it.
func (c *conn) release(t *Transport, keep bool) {
	if !c.unwatch() || !keep || c.br.Buffered() > 0 || c.rerr != nil || (c.secure && !c.settled()) {
		// An aborted connection has a past deadline; bytes past the
		// response mean the upstream broke the framing; a read error
		// (an end of stream with the last bytes) ends the connection.
		c.close()
		return
	}
	c.reused, c.ctx = false, nil
	c.slow, c.slowCalled = nil, false
	if !c.pool.put(c, t) {
		c.close()
	}
}

func (c *conn) close() {
	c.slow = nil
	if !c.closed {
		c.closed = true
		_ = c.nc.Close()
	}
}

// reader counts what is read and enforces the header limit.
type reader struct{ c *conn }

func (r reader) Read(p []byte) (int, error) {
	c := r.c
	if c.limit >= 0 {
		if c.limit == 0 {
			c.tooLarge = true
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > c.limit {
			p = p[:c.limit]
		}
	}
	n, err := c.nc.Read(p)
	for n == 0 && err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.escalate() {
		if slow := c.slow; slow != nil {
			c.slow, c.slowCalled = nil, true
			slow()
		}
		n, err = c.nc.Read(p)
	}
	if err != nil && c.rerr == nil {
		c.rerr = err
	}
	c.read += int64(n)
	if c.limit >= 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// writer writes to the connection, through the window's deadline.
type writer struct{ c *conn }

func (w writer) Write(p []byte) (int, error) {
	c, written := w.c, 0
	for {
		n, err := c.nc.Write(p[written:])
		written += n
		c.wrote += int64(n)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !c.escalate() {
			if err != nil && c.werr == nil {
				c.werr = err
			}
			return written, err
		}
		if written == len(p) {
			return written, nil
		}
	}
}

var errHeaderTooLarge = errors.New("h1: response header too large")

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout > 0 {
		return t.IdleConnTimeout
	}
	return defaultIdleConnTimeout
}

func (t *Transport) maxIdle() int {
	if t.MaxIdlePerAddr > 0 {
		return t.MaxIdlePerAddr
	}
	return defaultMaxIdlePerAddr
}
