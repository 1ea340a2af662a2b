//go:build unix

package h1

import (
	"errors"
	"syscall"
)

// alive reports whether c's upstream has not closed it: a non-blocking
// peek finds neither an end of stream nor an error (a would-block means
// nothing arrived, the healthy case for an idle connection). Bytes waiting
// on an idle connection are a broken upstream too.
func alive(c *conn) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && ok
}
