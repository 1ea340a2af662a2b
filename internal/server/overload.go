package server

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/socket"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// The two overload bounds of server.limits. Both are fixed caps, as
// NGINX's worker_connections and limit_conn and HAProxy's maxconn are:
// predictable, cheap (one atomic per connection or request) and easy to
// reason about. An adaptive limit (Netflix's concurrency-limits, Envoy's
// adaptive concurrency filter) tracks latency to find the cap by itself, but
// it needs a latency signal per upstream and tuning of its own; a fixed cap
// set from a load test is what an operator can predict.

// connCounter is the gauge and the counter a connLimiter reports to;
// *telemetry.Metrics is one.
type connCounter interface {
	ConnectionOpened() int64
	ConnectionClosed()
	ConnectionRejected()
}

var _ connCounter = (*telemetry.Metrics)(nil)

// connLimiter is a listener that keeps at most max connections open: one
// accepted beyond it is closed at once, before a byte of it is read or a
// TLS handshake starts, and Accept goes on to the next. It counts every
// connection in gantry_connections_open. max 0 means no bound. Accept is
// called by one goroutine (the server's accept loop); the connections it
// returns may be closed from any goroutine.
type connLimiter struct {
	net.Listener
	max int64
	m   connCounter
}

func newConnLimiter(ln net.Listener, max int, m connCounter) *connLimiter {
	return &connLimiter{Listener: ln, max: int64(max), m: m}
}

// Accept returns the next connection within the bound.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.m.ConnectionOpened(); l.max > 0 && n > l.max {
			l.m.ConnectionClosed()
			l.m.ConnectionRejected()
			// A reset rather than a FIN: the client learns at once, and
			// the socket leaves no TIME_WAIT behind on this side.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		// Reads and writes as raw system calls (package socket).
		return &limitedConn{Conn: socket.Wrap(c), m: l.m}, nil
	}
}

// limitedConn is a connection within the bound; closing it frees its place
// once, however often it is closed.
type limitedConn struct {
	net.Conn
	m      connCounter
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.m.ConnectionClosed()
	}
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when it can; Go's server uses it to
// let the client read a final error response before the connection ends.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the accepted connection.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// admission bounds the requests served at once
// (server.limits.max_concurrent_requests). The zero value and max 0 admit
// everything. Safe for concurrent use; it does not allocate.
type admission struct {
	max int64
	n   atomic.Int64
}

// acquire takes a place and reports whether there was one. Every true must
// be followed by one release. A compare-and-swap loop rather than an add
// and an undo, so a burst of refused requests never makes an admitted one
// look over the bound.
func (a *admission) acquire() bool {
	if a.max <= 0 {
		return true
	}
	for {
		n := a.n.Load()
		if n >= a.max {
			return false
		}
		if a.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives back a place acquire took.
func (a *admission) release() {
	if a.max > 0 {
		a.n.Add(-1)
	}
}

// errOverloaded answers a request shed by admission. The client may come
// back in a second; nothing reached an upstream.
var errOverloaded = &pipeline.HTTPError{
	Status:  http.StatusServiceUnavailable,
	Code:    pipeline.CodeOverloaded,
	Message: "the gateway is serving as many requests as it may; retry shortly",
	Header:  http.Header{"Retry-After": {"1"}},
}
