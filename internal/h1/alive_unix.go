//go:build unix

package h1

import (
	"errors"
	"os"
	"syscall"

	"github.com/gantry-dev/gantry/internal/socket"
)

// prober peeks at a connection's socket. It is set up on the first check
// of a connection, so that later checks allocate nothing: the raw
// connection and the callback are kept, and the callback reports through
// ok.
type prober struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	ok  bool
	buf [1]byte
}

// alive reports whether c may carry a request: a non-blocking peek finds
// neither a byte, nor an end of stream, nor an error (a would-block means
// nothing arrived, the healthy case for an idle connection). A byte waiting
// on an idle connection is an answer nobody asked for: read as the next
// request's, it would shift every answer on the connection by one.
func alive(c *conn) bool {
	p := &c.prober
	if p.fn == nil {
		// The TCP socket, under TLS too (see tls.go).
		sc, ok := c.raw.(syscall.Conn)
		if !ok {
			return true
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		p.rc = rc
		p.fn = func(fd uintptr) bool {
			p.ok = socket.Idle(fd, &p.buf)
			return true
		}
	}
	p.ok = false
	err := p.rc.Read(p.fn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline of the last request passed while the connection
		// was idle; the next request sets its own. Clearing it only then
		// saves a timer update on every reuse.
		c.clearDeadline()
		err = p.rc.Read(p.fn)
	}
	return err == nil && p.ok
}
