package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// HTTP/1.1 over TLS. An https:// connection is a TCP connection, dialed as
// a plain one, with a TLS client handshake on top, bounded by the same
// dial timeout; it is pooled per address like a plain one (the Transport
// has one TLS configuration, so address and configuration are one key).
// Verification is crypto/tls's under the caller's configuration: its
// RootCAs (nil: the system's, which SSL_CERT_FILE and SSL_CERT_DIR can
// name), its ServerName or else the URL's host, which is also the SNI,
// and InsecureSkipVerify only when the caller set it.
//
// ALPN offers http/1.1 only, so a server that would choose h2 cannot: the
// connection always speaks what this client reads. A server that answers
// ALPN with anything else fails the handshake (crypto/tls checks the
// answer against the offer).
//
// Three things differ from a plain connection:
//
//   - The idle check (alive) peeks at the TCP socket under the TLS layer.
//     Nothing may arrive on an idle HTTP/1.1 connection, and at the TLS
//     layer a record that arrives is a close_notify (the server is closing),
//     an answer nobody asked for, or a post-handshake message (a session
//     ticket, a key update) that servers send right after the handshake,
//     before any answer, not on an idle connection. Whatever the record,
//     it cannot be told apart without decrypting it, which would need a
//     blocking read, so any byte on the socket drops the connection, as on
//     a plain one: the cost of a wrong drop is one new connection.
//   - Bytes the TLS layer read from the socket together with the end of a
//     response sit in its own buffer, where neither the socket peek nor
//     the bufio.Reader can see them; release checks that buffer with a read
//     under an expired deadline (settled), which returns what is buffered
//     without waiting on the socket. A close_notify read with the last
//     response bytes comes back from that same read as an end of stream
//     (crypto/tls reads a waiting alert with the data before it).
//   - A write that hits a deadline leaves a TLS connection unusable
//     (crypto/tls keeps the error), so the short first deadline that lets a
//     plain request skip watching its context (see conn) cannot be used:
//     a TLS request's context is watched from the start.

// tlsConfig returns the configuration of the https:// pool that dials
// addr (host:port).
func (t *Transport) tlsConfig(addr string) *tls.Config {
	cfg := t.TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if cfg.ServerName == "" {
		// As net/http: the URL's host without its port. An IP address is
		// verified against the certificate's IP addresses and sent as no
		// SNI (crypto/tls leaves it out).
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	if cfg.ClientSessionCache == nil {
		// Resumption skips the certificate exchange on new connections;
		// crypto/tls checks a resumed session against the ServerName and
		// the certificate's expiry as a full handshake would.
		t.sessionsOnce.Do(func() { t.sessions = tls.NewLRUClientSessionCache(0) })
		cfg.ClientSessionCache = t.sessions
	}
	return cfg
}

// handshakeTimeoutError is a handshake that outlasted the dial timeout. Its
// text is net/http's, which the proxy's error mapping knows as a TLS
// failure (a 502, not the 504 of a response timeout).
type handshakeTimeoutError struct{}

func (handshakeTimeoutError) Error() string   { return "h1: TLS handshake timeout" }
func (handshakeTimeoutError) Timeout() bool   { return true }
func (handshakeTimeoutError) Temporary() bool { return true }

// handshake runs the TLS client handshake on nc within timeout; on an
// error nc is closed.
func handshake(ctx context.Context, nc net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = nc.Close()
		if ctx.Err() == nil && hctx.Err() != nil {
			return nil, handshakeTimeoutError{}
		}
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		// crypto/tls refuses an answer outside the offer; this is the
		// belt to its braces.
		_ = nc.Close()
		return nil, fmt.Errorf("h1: upstream chose protocol %q over TLS", p)
	}
	return tc, nil
}

// settled reports whether the TLS layer of c holds no byte past the
// response just read: a read under an expired deadline returns what the
// layer buffered and does not touch the socket; crypto/tls keeps no state
// from a timeout. It leaves an expired deadline, which alive clears.
func (c *conn) settled() bool {
	past := time.Unix(1, 0)
	if err := c.nc.SetReadDeadline(past); err != nil {
		return false
	}
	c.dl = past // what clearDeadline must undo
	var b [1]byte
	n, err := c.nc.Read(b[:])
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}
