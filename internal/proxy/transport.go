package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/h1"
)

// Default upstream timeouts, used when the upstream's timeouts leave them 0.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
)

// Transports hands out shared upstream transports, one per (connect timeout,
// response timeout, protocol). Handlers of every config generation draw from
// the same registry, so a reload reuses the warm connection pools and starts
// no goroutines: 1,000 reloads of one config create no transport. A
// transport is never dropped; the set is bounded by the distinct timeout
// pairs a process ever configures, and idle connections close after 90s.
//
// The zero value is not usable; call NewTransports. Safe for concurrent use.
type Transports struct {
	mu sync.Mutex
	m  map[transportKey]*Transport
}

// Transport is an upstream transport: plain-HTTP/1.1 requests go through
// the gateway's own client (package h1), which does the round trip on the
// calling goroutine; TLS, HTTP/2, upgrades and streamed request bodies go
// through net/http's Transport (Std).
type Transport struct {
	Std  *http.Transport
	fast *h1.Transport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.fast != nil && h1.Supports(r) {
		return t.fast.RoundTrip(r)
	}
	return t.Std.RoundTrip(r)
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
	h2c               bool
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

func (t *Transports) get(k transportKey) *Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.m[k]; ok {
		return tr
	}
	tr := newTransport(k)
	t.m[k] = tr
	return tr
}

func newTransport(k transportKey) *Transport {
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
	}
	if k.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
		return &Transport{Std: tr}
	}
	return &Transport{Std: tr, fast: &h1.Transport{
		DialTimeout:            k.connect,
		ResponseHeaderTimeout:  k.response,
		IdleConnTimeout:        tr.IdleConnTimeout,
		MaxIdlePerAddr:         tr.MaxIdleConnsPerHost,
		MaxResponseHeaderBytes: tr.MaxResponseHeaderBytes,
		KeepAlive:              30 * time.Second,
	}}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
