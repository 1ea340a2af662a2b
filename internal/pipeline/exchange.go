package pipeline

import (
	"context"
	"net/http"
	"time"
)

// Exchange is the one per-request object of the request path. The server
// creates it, puts it in the request context and reads it after the request
// for the access log, metrics and metering. Each step writes only its own
// fields, and each field names its writer below ("written by"); a new need
// gets a new typed field, never a map of values.
//
// The server owns the response: its recorder (the one ResponseWriter every
// step writes through) counts the bytes both ways, on plain and hijacked
// connections alike, and applies the route's response policy (CORS) to
// relayed answers and gateway errors alike. Terminals and plugins never
// write byte counts, Status or Err: they report how the request ended by
// the error they return (nil, an *HTTPError not yet written, an
// *AbortedError or any error after the answer started), and the server
// records it (see Outcome).
//
// An Exchange belongs to its request's goroutine; steps that fan out (the
// aggregate terminal) must not write it from other goroutines.
type Exchange struct {
	// ID is the request ID, echoed as X-Request-ID both ways.
	// Written by: server, at the start.
	ID string
	// Start is when the server received the request.
	// Written by: server, at the start.
	Start time.Time
	// ClientIP is the address of the client as the gateway trusts it: the
	// peer, or the left-most untrusted X-Forwarded-For hop when the peer is a
	// trusted proxy.
	// Written by: server, before routing.
	ClientIP string
	// Path is the canonical request path, used for routing, limits, metering
	// and forwarding. The version segment, when taken from the path, is gone.
	// Written by: server, while routing.
	Path string
	// RequestPath is the canonical path the client asked for, matrix
	// parameters and version segment included, before the route's
	// strip_prefix or rewrite: what an external authorization service is
	// told (X-Forwarded-Uri).
	// Written by: server, while routing.
	RequestPath string
	// Version is the API version the request asked for ("" without versioning).
	// Written by: server, while routing.
	Version string
	// RouteName names the matched route ("" when none matched).
	// Written by: server, while routing.
	RouteName string
	// Params holds the route's path parameters in pattern order.
	// Written by: server, while routing.
	Params []Param
	// Consumer is set by authentication; nil for anonymous callers.
	// Written by: the auth plugin.
	Consumer *Consumer
	// ClientCert describes the verified client certificate a route's mtls
	// method authenticated; nil otherwise. The forwarding rules send it
	// upstream as X-Client-Cert-Subject and -Fingerprint.
	// Written by: the mtls auth method.
	ClientCert *ClientCert
	// Upstream names the upstream and Target the URL of the last target tried.
	// Written by: the terminal (proxy, aggregate, lambda).
	Upstream string
	Target   string
	// Attempts counts upstream attempts (1 without retries).
	// Written by: the terminal.
	Attempts int
	// Status is the status sent to the client (499 when it went away first).
	// Written by: server, at the end, only: Outcome of what the handler
	// chain returned and the status its recorder saw sent.
	Status int
	// BytesIn counts the bytes read from the client: the request body, and
	// on a hijacked (WebSocket) connection every byte the client sent after
	// its handshake request (frame headers included). BytesOut counts the
	// bytes written to the client: the response body, and on a hijacked
	// connection every byte after the handshake answer (frame headers and
	// the gateway's own close frames included). Header blocks and the
	// handshake are not counted.
	// Written by: server, from its recorder, at the end; nobody else.
	BytesIn  int64
	BytesOut int64
	// Err is the failure that ended the request, if any: the error the
	// handler chain returned (or the server's own, such as a panic's 500).
	// Written by: server, at the end, only, with Status (see Outcome).
	Err error
	// GRPCStatus is the grpc-status a gRPC call (a request with Content-Type
	// application/grpc*) ended with, "0" to "16", or "unknown" when its
	// answer carried none that the gateway could read; "" for a request
	// that is not a gRPC call.
	// Written by: server, from its recorder, at the end, only.
	GRPCStatus string
	// TLS is true when the client connection is TLS (X-Forwarded-Proto https).
	// Written by: server, at the start.
	TLS bool
	// HeaderNames is what the serving engine found, while it read the
	// request's field names, that the hygiene acts on: a wire.Names (this
	// package sits below wire), 0 when not known (net/http's servers).
	// The server's hygiene skips its walk over a header whose names hold
	// nothing for it.
	// Written by: server, at the start, from the engine.
	HeaderNames uint8

	// Admitted is set when the request passed every gate (authentication,
	// rate limits, quota) and reached the route's terminal handler. Only
	// admitted requests count against quotas and can be billed; the server
	// meters as not admitted an admitted request whose body the gateway
	// refused (over the limit, or failed to read), reading this field and
	// the error the chain returned.
	// Written by: the route's admit step, only.
	Admitted bool
	// Units is what the upstream reported in the route's units_header,
	// when UnitsSet; otherwise the request counts one unit.
	// Written by: server, from its recorder, when the header is written.
	Units    int64
	UnitsSet bool
	// WebSocket is set for an upgraded connection once it has ended: the
	// data messages each way and how long it stayed open.
	// Written by: the proxy.
	WebSocket *WebSocketStats
	// Cache is what the route's response cache did with the request: hit,
	// miss, stale, revalidated or bypass; "" on routes without a cache.
	// Written by: the route's cache step.
	Cache string
	// Partial names optional aggregate calls that were left out.
	// Written by: the aggregate terminal.
	Partial []string
	// LLM is what a route with llm read of the request and its answer;
	// nil on other routes and before the route's llm step ran.
	// Written by: the route's llm step, only.
	LLM *LLMStats

	// params is storage for Params, so most routes' parameters need no
	// allocation of their own; id, for IDValues.
	params [4]Param
	id     [1]string
}

// IDValues returns ID as a header's values, backed by x (no allocation of
// their own). The slice is full, so an append copies.
func (x *Exchange) IDValues() []string {
	x.id[0] = x.ID
	return x.id[:1:1]
}

// ParamBuf returns empty storage for the request's path parameters.
func (x *Exchange) ParamBuf() []Param { return x.params[:0] }

// WebSocketStats describes a finished WebSocket connection.
type WebSocketStats struct {
	// MessagesIn are data messages from the client, MessagesOut to it.
	MessagesIn  int64
	MessagesOut int64
	// Duration is how long the connection stayed upgraded.
	Duration time.Duration
	// Reason says why it ended: "client_closed", "upstream_closed",
	// "idle_timeout", "max_lifetime", "shutdown".
	Reason string
}

// LLMStats describes the LLM exchange of a route with llm.
type LLMStats struct {
	// Model is the requested model as metered: the request's "model"
	// when the route lists it (or, on a route without a list, when a
	// plan prices it), else "other".
	Model string
	// InputTokens, OutputTokens and CachedTokens are what the upstream's
	// answer reported (see package llm); Reported is set once it reported
	// any.
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	Reported     bool
	// FirstByte is when the first byte of the answer's body reached the
	// client, measured from Start; 0 when none did.
	FirstByte time.Duration
}

// Param is one path parameter captured by the route pattern.
type Param struct {
	Name  string
	Value string
}

// ClientCert is what the upstream is told of a verified client
// certificate.
type ClientCert struct {
	// Subject is the certificate's subject in RFC 2253 form.
	Subject string
	// Fingerprint is the lowercase hex SHA-256 of the DER certificate.
	Fingerprint string
}

// Consumer is who is calling, as authentication established it.
type Consumer struct {
	ID     string
	Plan   string
	Groups []string
}

// Param returns the value of the named path parameter, or "".
func (x *Exchange) Param(name string) string {
	for i := range x.Params {
		if x.Params[i].Name == name {
			return x.Params[i].Value
		}
	}
	return ""
}

type exchangeKey struct{}

// WithExchange returns a context that carries x.
func WithExchange(ctx context.Context, x *Exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// NewExchange returns a context under ctx that carries a new Exchange
// whose Start is start, and the Exchange, for its maker to fill in what it
// knows before the request goes on: the context and the Exchange are one
// allocation.
func NewExchange(ctx context.Context, start time.Time) (context.Context, *Exchange) {
	c := &exchangeCtx{Context: ctx, x: Exchange{Start: start}}
	return c, &c.x
}

// exchangeCtx is a context with an Exchange of its own. Done, Err and
// Deadline are ctx's, so cancellation propagates as through WithValue.
type exchangeCtx struct {
	context.Context
	x Exchange
}

func (c *exchangeCtx) Value(key any) any {
	if _, ok := key.(exchangeKey); ok {
		return &c.x
	}
	return c.Context.Value(key)
}

// exchangeFrom returns the Exchange carried by ctx, or nil.
func exchangeFrom(ctx context.Context) *Exchange {
	x, _ := ctx.Value(exchangeKey{}).(*Exchange)
	return x
}

// ExchangeOf is ExchangeFrom(r.Context()).
func ExchangeOf(r *http.Request) *Exchange { return exchangeFrom(r.Context()) }
