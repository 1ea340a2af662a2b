//go:build !linux

package socket

import "net"

// Wrap returns c: only Linux reads and writes sockets directly.
func Wrap(c net.Conn) net.Conn { return c }
