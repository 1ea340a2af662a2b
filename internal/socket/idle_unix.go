//go:build unix && !linux

package socket

import "syscall"

// Idle reports whether a non-blocking peek at the socket fd would block:
// no byte waiting, no end of stream, no error. buf receives a peeked byte.
func Idle(fd uintptr, buf *[1]byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
