package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// serveTLS serves HTTP/2 and HTTP/1.1 over TLS on ln. It starts the TLS
// accept loop and the HTTP/2 server (newH2Server), and returns that server,
// for Shutdown, and the listener of the HTTP/1.1 connections, which the
// caller serves through the wire framing guard.
// onHandshakeError, when set, is called for every failed TLS handshake.
func serveTLS(ln net.Listener, h http.Handler, tcfg *tls.Config, lim config.Limits, maxHeader int, errLog *log.Logger, logger *slog.Logger, onHandshakeError func()) (*http.Server, net.Listener) {
	tl, h2 := newTLS(ln, h, tcfg, lim, maxHeader, errLog, logger)
	tl.onHandshakeError = onHandshakeError
	go tl.run()
	go h2.Serve(tl.h2)
	return h2, tl.h1
}

// newTLS builds what serveTLS starts: the TLS listener, which bounds the
// first request of HTTP/2 connections, and the HTTP/2 server.
func newTLS(ln net.Listener, h http.Handler, tcfg *tls.Config, lim config.Limits, maxHeader int, errLog *log.Logger, logger *slog.Logger) (*tlsListener, *http.Server) {
	tl := newTLSListener(ln, tcfg, lim.ReadHeaderTimeout.D(), logger)
	tl.firstRequest = tl.timeout
	h2 := newH2Server(h, lim, maxHeader, errLog, tcfg)
	h2.ConnState = tl.connState
	return tl, h2
}

// newH2Server returns the server of HTTP/2 over TLS, with the limits
// HTTP/1.1 connections get:
//   - read_timeout bounds each stream's request body, write_timeout each
//     stream's response, as for an HTTP/1.1 request;
//   - idle_timeout closes a connection without open streams;
//   - read_header_timeout bounds the header reads: a connection that reads
//     no frame for that long is pinged, and closed when the ping is not
//     answered within it again. A client trickling a header block in
//     CONTINUATION frames cannot answer a ping in the middle of it, so a
//     slowloris is cut after twice read_header_timeout, whatever other
//     streams keep the connection busy. The first request's header gets a
//     tighter bound from tlsListener.connState.
//
// Go's HTTP/2 server applies none of the HTTP/1.1 header timeouts by
// itself, and pings only when told to.
func newH2Server(h http.Handler, lim config.Limits, maxHeader int, errLog *log.Logger, tcfg *tls.Config) *http.Server {
	hdr := lim.ReadHeaderTimeout.D()
	if hdr <= 0 {
		hdr = defaultHeaderTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: hdr,
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.WriteTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          errLog,
		TLSConfig:         tcfg,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: maxConcurrentStreams,
			SendPingTimeout:      hdr,
			PingTimeout:          hdr,
		},
	}
}

// maxConcurrentStreams is the SETTINGS_MAX_CONCURRENT_STREAMS of every
// HTTP/2 connection (h2 and h2c): the minimum RFC 9113 §6.5.2 recommends
// and what NGINX (http2_max_concurrent_streams) uses, rather than Go's
// 250. It also bounds the handlers a client can queue by opening streams
// and resetting them at once (Go's server refuses the connection beyond
// four times this many).
const maxConcurrentStreams = 100

// defaultHeaderTimeout bounds the TLS handshake and header reads when the
// configuration leaves it 0.
const defaultHeaderTimeout = 10 * time.Second

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
	// onHandshakeError, when set, counts a failed handshake
	// (gantry_tls_handshake_errors_total); set before run.
	onHandshakeError func()

	// firstRequest, when set, bounds the time from the TLS handshake to the
	// end of the first request header of an HTTP/2 connection, as
	// read_header_timeout bounds it on HTTP/1.1. pending holds the
	// deadline of each HTTP/2 connection until its first stream opens.
	firstRequest time.Duration
	mu           sync.Mutex
	pending      map[net.Conn]*firstDeadline
}

// firstDeadline is when an HTTP/2 connection must have sent its first
// request header; armed once it is set on the connection.
type firstDeadline struct {
	at    time.Time
	armed bool
}

func newTLSListener(inner net.Listener, cfg *tls.Config, handshakeTimeout time.Duration, log *slog.Logger) *tlsListener {
	if handshakeTimeout <= 0 {
		handshakeTimeout = defaultHeaderTimeout
	}
	return &tlsListener{
		inner: inner, cfg: cfg, timeout: handshakeTimeout, log: log,
		h1: newChanListener(inner.Addr()), h2: newChanListener(inner.Addr()),
		pending: make(map[net.Conn]*firstDeadline),
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
		// A connection closed before its client hello (a load balancer's
		// TCP check) is no failed handshake.
		if l.onHandshakeError != nil && !errors.Is(err, io.EOF) {
			l.onHandshakeError()
		}
		c.Close()
		return
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case "acme-tls/1":
		// A TLS-ALPN-01 validation: the handshake was the answer.
		tc.Close()
		return
	case "h2":
		if l.firstRequest > 0 {
			l.mu.Lock()
			l.pending[tc] = &firstDeadline{at: time.Now().Add(l.firstRequest)}
			l.mu.Unlock()
		}
		if !l.h2.push(tc) {
			l.forget(tc)
		}
		return
	}
	// Go's server fills Request.TLS from ConnectionState on conns that are
	// not a *tls.Conn.
	l.h1.push(tlsStateConn{tc})
}

// connState is the HTTP/2 server's ConnState hook; it bounds the first
// request header. net/http clears every deadline before it hands a TLS
// connection to HTTP/2, so the deadline is set at the first StateActive,
// which HTTP/2 reports once the client preface has arrived, and cleared at
// the second, when the first stream opens. A client that connects and sends
// no request, or trickles its first header, is cut at firstRequest after the
// handshake, as on HTTP/1.1.
func (l *tlsListener) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateActive:
		l.mu.Lock()
		d, ok := l.pending[c]
		if !ok {
			l.mu.Unlock()
			return
		}
		arm := !d.armed
		d.armed = true
		if !arm {
			delete(l.pending, c)
		}
		l.mu.Unlock()
		if arm {
			c.SetReadDeadline(d.at)
		} else {
			c.SetReadDeadline(time.Time{})
		}
	case http.StateClosed, http.StateHijacked:
		l.forget(c)
	}
}

func (l *tlsListener) forget(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, c)
}

// pendingLen returns how many HTTP/2 connections still wait for their
// first request.
func (l *tlsListener) pendingLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
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

// push hands c to Accept and reports whether it did; a closed listener
// closes c instead.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.close:
		c.Close()
		return false
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

// hasCertificate reports whether b's first CERTIFICATE block parses.
func hasCertificate(b []byte) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == "CERTIFICATE" {
			_, err := x509.ParseCertificate(blk.Bytes)
			return err == nil
		}
	}
}

// fileError words a file error without Go's "open NAME:" prefix doubling
// the path the message already names.
func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
