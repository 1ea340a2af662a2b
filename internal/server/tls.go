package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// tlsListener terminates TLS itself so that HTTP/1.1 connections can go
// through the wire framing guard on their plaintext, while HTTP/2
// connections (ALPN "h2") go to a server that speaks it. Go's server only
// negotiates HTTP/2 on a bare *tls.Conn, which the guard cannot wrap.
type tlsListener struct {
	inner   net.Listener
	cfg     *tls.Config
	timeout time.Duration
	log     *slog.Logger
	h1, h2  *chanListener
}

func newTLSListener(inner net.Listener, cfg *tls.Config, handshakeTimeout time.Duration, log *slog.Logger) *tlsListener {
	if handshakeTimeout <= 0 {
		handshakeTimeout = 10 * time.Second
	}
	return &tlsListener{
		inner: inner, cfg: cfg, timeout: handshakeTimeout, log: log,
		h1: newChanListener(inner.Addr()), h2: newChanListener(inner.Addr()),
	}
}

func (l *tlsListener) run() {
	defer l.h1.Close()
	defer l.h2.Close()
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		l.log.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		l.h2.push(tc)
		return
	}
	// Go's server fills Request.TLS from ConnectionState on conns that are
	// not a *tls.Conn.
	l.h1.push(tlsStateConn{tc})
}

// tlsStateConn hides *tls.Conn's type (so the HTTP/1 server does not try
// HTTP/2) but keeps its ConnectionState.
type tlsStateConn struct{ *tls.Conn }

// chanListener is a net.Listener fed by another goroutine.
type chanListener struct {
	addr  net.Addr
	ch    chan net.Conn
	once  sync.Once
	close chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), close: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.close:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.close:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.close) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
