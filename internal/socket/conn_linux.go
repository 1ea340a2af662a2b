package socket

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn is a TCP connection whose Read and Write call the kernel directly
// (see the package doc); every other method is the *net.TCPConn's.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	// The state of the read in progress, for readFn, which is bound once
	// so that a read allocates nothing.
	rmu    sync.Mutex
	readFn func(fd uintptr) bool
	rp     []byte
	rn     int
	rerr   syscall.Errno

	// The same for the write in progress.
	wmu     sync.Mutex
	writeFn func(fd uintptr) bool
	wp      []byte
	wn      int
	werr    syscall.Errno

	// WriteAndWait's callback and its state: wp and wn as for a write,
	// and sent once all of it went out.
	sendFn func(fd uintptr) bool
	sent   bool
}

// Wrap returns c with direct reads and writes when it is a *net.TCPConn,
// else c itself.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &Conn{TCPConn: tc, rc: rc}
	s.readFn, s.writeFn, s.sendFn = s.read, s.write, s.send
	return s
}

// Read reads up to len(p) bytes, waiting in the poller while none are
// there, as (*net.TCPConn).Read does.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.TCPConn.Read(p)
	}
	c.rmu.Lock()
	c.rp, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, e := c.rn, c.rerr
	c.rp = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case e != 0:
		return 0, c.opError("read", os.NewSyscallError("read", e))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is one attempt of Read: true when it has bytes, the end of the
// stream or an error; false to wait for readiness.
func (c *Conn) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rp)
		switch e {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.rerr = e
			return true
		}
	}
}

// Write writes all of p, waiting in the poller while the socket's buffer
// is full, as (*net.TCPConn).Write does; n is what was written when it
// fails.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return c.TCPConn.Write(p)
	}
	c.wmu.Lock()
	c.wp, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, e := c.wn, c.werr
	c.wp = nil
	c.wmu.Unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case e != 0:
		return n, c.opError("write", os.NewSyscallError("write", e))
	}
	return n, nil
}

// write is one attempt of Write: it writes until p is out, an error comes
// (true), or the socket's buffer is full (false: wait, then go on).
func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wp) {
		n, e := sysWrite(fd, c.wp[c.wn:])
		switch e {
		case 0:
			c.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// WriteAndWait writes p and then waits until the connection may have
// something to read, for a caller that writes a request and reads its
// answer next. The wait is armed before the write: an answer that comes
// at once still wakes it, and the read that follows finds the answer
// instead of nothing (a read that would block costs a system call before
// the wait; this is the one it saves per request).
//
// It returns how many bytes of p went out. It stops early, without an
// error, on anything but a complete write followed by a wait: a write the
// kernel takes in part, a write error, a deadline, a closed connection.
// The caller writes the rest with Write, which meets the same condition
// again and reports it as Write reports it. After a complete write the
// wait ends with readiness or with the read deadline; either way the
// caller's Read tells which. Only one goroutine may read or write the
// connection while it runs; it holds both the read and the write side.
func (c *Conn) WriteAndWait(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	c.rmu.Lock()
	c.wmu.Lock()
	c.wp, c.wn, c.werr, c.sent = p, 0, 0, false
	_ = c.rc.Read(c.sendFn)
	n := c.wn
	c.wp = nil
	c.wmu.Unlock()
	c.rmu.Unlock()
	return n
}

// send is WriteAndWait's callback. Called first (sent false), it writes;
// it returns false, which makes the poller wait for readability, only
// when every byte went out. Called again after the wait, it returns at
// once: the read is the caller's.
func (c *Conn) send(fd uintptr) bool {
	if c.sent {
		return true
	}
	// write stops at a full socket buffer (false) or an error (werr):
	// either way what is left is the caller's.
	if !c.write(fd) || c.werr != 0 {
		return true
	}
	c.sent = true
	return false
}

// opError is err as (*net.TCPConn).Read and Write report it. The raw
// connection's own errors (deadline, closed) come as a *net.OpError of op
// "raw-read" or "raw-write" around the same cause.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Idle reports whether a non-blocking peek at the socket fd would block:
// no byte waiting, no end of stream, no error. buf receives a peeked byte.
func Idle(fd uintptr, buf *[1]byte) bool {
	return sysPeek(fd, buf[:]) == syscall.EAGAIN
}
