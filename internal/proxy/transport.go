package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/h1"
)

// Default upstream timeouts, used when the upstream's timeouts leave them 0.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
)

// Transports hands out shared upstream transports, one per (connect timeout,
// response timeout, protocol: negotiated, HTTP/1.1 only or h2c). Handlers of every config generation draw from
// the same registry, so a reload reuses the warm connection pools and starts
// no goroutines: 1,000 reloads of one config create no transport. A
// transport is never dropped; the set is bounded by the distinct timeout
// pairs a process ever configures, and idle connections close after 90s.
//
// The zero value is not usable; call NewTransports. Safe for concurrent use.
type Transports struct {
	mu sync.Mutex
	m  map[transportKey]*Transport
	// roots are the certificate authorities https:// targets are verified
	// against; nil (always, outside tests) means the system's.
	roots *x509.CertPool
}

// Transport is an upstream transport: plain-HTTP/1.1 requests, and
// HTTP/1.1 over TLS for an upstream declared protocol http1, go through the
// gateway's own client (package h1), which does the round trip on the
// calling goroutine; negotiated TLS (h2 or HTTP/1.1 by ALPN), HTTP/2,
// upgrades and streamed request bodies go through net/http's Transport
// (Std).
type Transport struct {
	Std  *http.Transport
	fast *h1.Transport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.fast != nil && t.fast.Supports(r) {
		return t.fast.RoundTrip(r)
	}
	return t.Std.RoundTrip(r)
}

// Send is RoundTrip with the context given apart from the request: a
// request the gateway's own client takes goes with the header fields ob
// says (nil: req.Header's; see h1.Outbound), and needs no copy to carry
// the context; any other goes to net/http with req.Header, which must hold
// the same fields.
func (t *Transport) Send(ctx context.Context, req *http.Request, ob *h1.Outbound) (*http.Response, error) {
	if t.fast != nil {
		// The client decides whether it takes req (h1.Transport.Supports)
		// and refuses it, having done nothing, when it does not.
		res, err := t.fast.SendOutbound(ctx, req, ob, nil)
		if err != h1.ErrUnsupported {
			return res, err
		}
	}
	return t.Std.RoundTrip(req.WithContext(ctx))
}

// Start writes req, as Send would, without reading the answer: p.Finish
// reads it (h1.Pending), so that a caller with several requests to make
// sends them all before it waits for any. ok is false, with nothing done,
// when the request would not go through the gateway's own client; the
// caller then uses Send. Otherwise err is Send's for a failure before the
// answer, and p is only to be finished or closed when err is nil.
func (t *Transport) Start(ctx context.Context, req *http.Request, ob *h1.Outbound, p *h1.Pending) (ok bool, err error) {
	if t.fast == nil {
		return false, nil
	}
	// As in Send: the client's refusal is its decision, made before it
	// does anything.
	if err := t.fast.Start(ctx, req, ob, p); err != h1.ErrUnsupported {
		return true, err
	}
	return false, nil
}

// CloseIdleConnections closes both clients' idle connections.
func (t *Transport) CloseIdleConnections() {
	t.Std.CloseIdleConnections()
	if t.fast != nil {
		t.fast.CloseIdleConnections()
	}
}

type transportKey struct {
	connect, response time.Duration
	h2c, http1        bool
	// tls identifies the upstream's TLS client settings (ClientTLS.id),
	// zero for the defaults.
	tls [sha256.Size]byte
}

// NewTransports returns an empty registry.
func NewTransports() *Transports {
	return &Transports{m: make(map[transportKey]*Transport)}
}

// Get returns the shared transport for http:// and https:// targets with the
// given timeouts (0 means the default). HTTP/2 is negotiated over TLS.
func (t *Transports) Get(connect, response time.Duration) *Transport {
	return t.get(transportKey{connect: orDefault(connect, DefaultConnectTimeout), response: orDefault(response, DefaultResponseTimeout)})
}

// Upstream returns the shared transport of up's http:// and https://
// targets: Get with its timeouts, or, for protocol http1, a transport that
// speaks HTTP/1.1 only, over TLS too (ALPN offers http/1.1 alone, on both
// of its clients), so that https:// requests take the gateway's own client
// as http:// ones do. ct is up's tls block as LoadClientTLS loaded it (nil
// without one); both clients of the transport use it. Upstreams with the
// same timeouts, protocol and TLS settings (file contents included) share
// a transport.
func (t *Transports) Upstream(up *config.Upstream, ct *ClientTLS) *Transport {
	k := transportKey{connect: orDefault(up.Timeouts.Connect.D(), DefaultConnectTimeout), response: orDefault(up.Timeouts.Response.D(), DefaultResponseTimeout)}
	k.http1 = up.Protocol == config.ProtocolHTTP1
	k.tls = ct.key()
	return t.getTLS(k, ct)
}

// GetH2C returns the shared transport for h2c:// targets: HTTP/2 with prior
// knowledge over cleartext TCP.
func (t *Transports) GetH2C(connect, response time.Duration) *Transport {
	return t.get(transportKey{connect: orDefault(connect, DefaultConnectTimeout), response: orDefault(response, DefaultResponseTimeout), h2c: true})
}

// Len returns how many transports the registry holds.
func (t *Transports) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// CloseIdle closes the idle connections of every transport, on shutdown.
func (t *Transports) CloseIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.m {
		tr.CloseIdleConnections()
	}
}

func (t *Transports) get(k transportKey) *Transport { return t.getTLS(k, nil) }

func (t *Transports) getTLS(k transportKey, ct *ClientTLS) *Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.m[k]; ok {
		return tr
	}
	tr := newTransport(k, t.roots, ct)
	t.m[k] = tr
	return tr
}

func newTransport(k transportKey, roots *x509.CertPool, ct *ClientTLS) *Transport {
	d := &net.Dialer{Timeout: k.connect, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// Upstreams are addressed directly; HTTP_PROXY in the gateway's
		// environment must not reroute them.
		Proxy:                  nil,
		DialContext:            d.DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    k.connect,
		ResponseHeaderTimeout:  k.response,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		// Encodings pass through untouched: the client negotiated them
		// with the upstream, and decoding would break Content-Length.
		DisableCompression: true,
		// A custom DialContext turns HTTP/2 off unless forced; https
		// targets negotiate it by ALPN. WebSocket handshakes still get
		// HTTP/1.1 (the transport restricts ALPN for them).
		ForceAttemptHTTP2: true,
		// Detect dead HTTP/2 connections instead of waiting on them.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second},
		// Both clients verify upstream certificates the same way.
		TLSClientConfig: ct.Config(roots),
	}
	if k.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
		return &Transport{Std: tr}
	}
	fast := &h1.Transport{
		DialTimeout:            k.connect,
		ResponseHeaderTimeout:  k.response,
		IdleConnTimeout:        tr.IdleConnTimeout,
		MaxIdlePerAddr:         tr.MaxIdleConnsPerHost,
		MaxResponseHeaderBytes: tr.MaxResponseHeaderBytes,
		KeepAlive:              30 * time.Second,
	}
	if k.http1 {
		// HTTP/1.1 only: what h1 does not take (upgrades, streamed
		// bodies) goes through Std, which must not negotiate h2 either.
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
		tr.HTTP2 = nil
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		fast.TLSClientConfig = ct.Config(roots)
	}
	return &Transport{Std: tr, fast: fast}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
