package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// reason is a framing verdict.
type reason uint8

const (
	reasonNone    reason = iota // good
	reasonUnknown               // the scanner lost track: fail open
	// Verdicts on a request's own header block.
	reasonCLTE
	reasonTE10
	reasonObsFold
	reasonBareLF
	reasonBareCR
	reasonHeaderLine
	reasonBadCL
	reasonDupCL
	reasonOptionsStar
	// Verdicts on the requests after one whose chunked body was broken.
	reasonChunkSize
	reasonChunkLine
	reasonChunkBareLF
	reasonChunkBareCR
	reasonChunkData
	reasonTrailer
)

const earlier = "an earlier request on this connection had a malformed chunked body: "

var reasonText = [...]string{
	reasonCLTE:        "request has both Transfer-Encoding and Content-Length",
	reasonTE10:        "HTTP/1.0 request has Transfer-Encoding",
	reasonObsFold:     "request has a folded header line (obs-fold)",
	reasonBareLF:      "request line or header line ends with a bare LF",
	reasonBareCR:      "request has a bare CR",
	reasonHeaderLine:  "request has a header line without a colon",
	reasonBadCL:       "request has an invalid Content-Length",
	reasonDupCL:       "request has conflicting Content-Length values",
	reasonOptionsStar: "OPTIONS * is not supported on this connection",
	reasonChunkSize:   earlier + "invalid chunk size",
	reasonChunkLine:   earlier + "chunk-size line too long",
	reasonChunkBareLF: earlier + "line ends with a bare LF",
	reasonChunkBareCR: earlier + "bare CR",
	reasonChunkData:   earlier + "chunk data not followed by CRLF",
	reasonTrailer:     earlier + "malformed or oversized trailer",
}

// conn scans what the HTTP server reads from the wrapped connection.
type conn struct {
	net.Conn
	s      scanner
	served atomic.Int64
	// idle is set while no response is in progress: from the accept, and
	// from each StateIdle (ConnState) until the next Check (canned.go).
	idle atomic.Bool
}

// stateConn is a conn over a connection that knows its TLS state, such as
// a *tls.Conn whose handshake the caller has done: Go's server fills
// Request.TLS from ConnectionState.
type stateConn struct {
	*conn
	cs interface{ ConnectionState() tls.ConnectionState }
}

// ConnectionState returns the wrapped connection's TLS state.
func (c stateConn) ConnectionState() tls.ConnectionState { return c.cs.ConnectionState() }

// NewListener returns a listener whose connections are wrapped by Wrap.
func NewListener(inner net.Listener) net.Listener { return listener{inner} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// Wrap returns c with a framing guard: every byte read through it is
// scanned as HTTP/1 requests. The connection must carry plaintext HTTP/1
// (wrap a *tls.Conn, not the TCP connection under it), and its reads must
// not be concurrent, as with http.Server. A connection that has a
// ConnectionState method keeps it. Wrap allocates once per connection
// (twice with ConnectionState); scanning allocates nothing.
func Wrap(c net.Conn) net.Conn {
	switch c.(type) {
	case *conn, stateConn:
		return c
	}
	wc := &conn{Conn: c}
	wc.s.init()
	wc.idle.Store(true)
	if cs, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return stateConn{wc, cs}
	}
	return wc
}

// Read reads from the wrapped connection and scans what it returns before
// the server sees it.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.s.state != sStopped {
		c.s.scan(p[:n])
	}
	return n, err
}

// CloseWrite half-closes the wrapped connection when it can. Go's server
// uses it to let the client read a final error response (413, 400) before
// the connection is reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

type connKey struct{}

// ConnContext records a wrapped connection in ctx; it has the signature of
// http.Server.ConnContext. Connections not made by Wrap or NewListener
// are ignored.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	var wc *conn
	switch c := c.(type) {
	case *conn:
		wc = c
	case stateConn:
		wc = c.conn
	default:
		return ctx
	}
	return context.WithValue(ctx, connKey{}, wc)
}

// Check reports whether the header block of r, or the framing of a request
// before it on the same connection, was malformed in a way Go's server lets
// through: both Transfer-Encoding and Content-Length, Transfer-Encoding on
// HTTP/1.0, an obs-folded header line, a bare LF or bare CR line end, an
// invalid or conflicting Content-Length, or a broken chunked body earlier on
// the connection. The error is a *pipeline.HTTPError with status 400 and
// Close set: the connection must be closed after the answer (RFC 9112 §6.1).
//
// The server must call Check exactly once for every request its Handler
// receives, before anything else answers it: Check counts requests to pair
// each with its header block, so a skipped or repeated call shifts every
// later verdict on that connection. Set http.Server.DisableGeneralOptionsHandler
// so that "OPTIONS *" reaches the Handler too; such requests are refused.
//
// Check passes HTTP/2 requests, requests on connections that were not
// wrapped, and requests after the point where the scanner lost track of a
// connection's framing in a way it cannot call malformed (it stops and
// fails open; Go's own parser refuses nearly all of those).
func Check(r *http.Request) error {
	if r.ProtoMajor != 1 {
		return nil
	}
	c, _ := r.Context().Value(connKey{}).(*conn)
	if c == nil {
		return nil
	}
	// A response is in progress from here until the server reports the
	// connection idle again.
	c.idle.Store(false)
	why := c.s.verdict(c.served.Add(1) - 1)
	if why == reasonNone || why == reasonUnknown {
		return nil
	}
	return &pipeline.HTTPError{
		Status:  http.StatusBadRequest,
		Code:    pipeline.CodeBadRequest,
		Message: reasonText[why],
		Close:   true,
	}
}
