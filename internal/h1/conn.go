package h1

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// pool holds the idle connections to one address, most recently used last:
// the warm ones are reused first and the cold ones age out.
type pool struct {
	addr string
	mu   sync.Mutex
	idle []*conn
}

// get returns an idle connection, checked when it sat idle for long, or
// dials a new one.
func (p *pool) get(ctx context.Context, t *Transport) (*conn, error) {
	now := t.clock()
	for {
		c := p.pop(now, t.idleTimeout())
		if c == nil {
			break
		}
		if now.Sub(c.idleAt) < probeAfter || c.probe() {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	return p.dial(ctx, t)
}

func (p *pool) pop(now time.Time, timeout time.Duration) *conn {
	var stale []*conn
	p.mu.Lock()
	// The oldest sit at the front; drop the expired ones.
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) > timeout {
		i++
	}
	if i > 0 {
		stale = append(stale, p.idle[:i]...)
		n := copy(p.idle, p.idle[i:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
	}
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

// put keeps c for reuse; it reports false when the pool is full.
func (p *pool) put(c *conn, now time.Time, max int) bool {
	c.idleAt = now
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= max {
		return false
	}
	p.idle = append(p.idle, c)
	return true
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
		d.Timeout = DefaultDialTimeout
	}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, pool: p, limit: -1}
	c.br = bufio.NewReaderSize(reader{c}, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c, nil
}

// conn is one upstream connection, used by one request at a time.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	pool *pool
	// idleAt is when it went back to the pool; reused says it came from
	// there for the current request.
	idleAt time.Time
	reused bool
	// limit is how many more bytes the response header may take (-1: no
	// limit); read counts the bytes read for the current request.
	limit int64
	read  int64
	// tooLarge is set when the header limit was reached; deadline says a
	// read or write deadline may be set.
	tooLarge bool
	deadline bool
	// hbuf, spans and long are the header reader's scratch space.
	hbuf   []byte
	spans  []span
	long   []byte
	closed bool
}

// probe checks a connection that sat idle for long; a deadline left from
// its last request would fail the check.
func (c *conn) probe() bool {
	if c.deadline {
		_ = c.nc.SetDeadline(time.Time{})
		c.deadline = false
	}
	return alive(c)
}

// start prepares c for a request.
func (c *conn) start() { c.read = 0 }

// fresh reports whether nothing of the current request's answer was read.
func (c *conn) fresh() bool { return c.read == 0 }

// abort unblocks the read or write in progress; it runs on the context's
// goroutine.
func (c *conn) abort() { _ = c.nc.SetDeadline(time.Unix(1, 0)) }

// release ends the current request: the connection goes back to the pool
// when keep allows and the request's context did not abort it.
func (c *conn) release(t *Transport, stop func() bool, keep bool) {
	if !stop() || !keep || c.br.Buffered() > 0 {
		// An aborted connection has a past deadline; bytes past the
		// response mean the upstream broke the framing.
		c.close()
		return
	}
	c.reused = false
	if !c.pool.put(c, t.clock(), t.maxIdle()) {
		c.close()
	}
}

func (c *conn) close() {
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
	c.read += int64(n)
	if c.limit >= 0 {
		c.limit -= int64(n)
	}
	return n, err
}

var errHeaderTooLarge = errors.New("h1: response header too large")

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout > 0 {
		return t.IdleConnTimeout
	}
	return DefaultIdleConnTimeout
}

func (t *Transport) maxIdle() int {
	if t.MaxIdlePerAddr > 0 {
		return t.MaxIdlePerAddr
	}
	return DefaultMaxIdlePerAddr
}
