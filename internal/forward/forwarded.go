package forward

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// SetHeaders sets the headers the gateway gives every upstream request made
// for in: X-Forwarded-For/-Host/-Proto/-Port, X-Real-Ip, X-Request-Id and,
// after authentication, X-Consumer-Id and -Groups and, when a client
// certificate authenticated, X-Client-Cert-Subject and -Fingerprint.
// Proxied routes,
// aggregate calls and lambda events all use it, so upstreams see one
// contract.
func SetHeaders(hd http.Header, in *http.Request, x *pipeline.Exchange, trusted []netip.Prefix) {
	var buf [maxSet]wire.Field
	fields := appendSet(buf[:0], in, x, trusted)
	// One backing array for the values: one allocation instead of one per
	// header. Each value gets a full slice expression, so an append by a
	// later rule cannot overwrite its neighbour.
	vals := make([]string, len(fields))
	for i, f := range fields {
		vals[i] = f.Value
		hd[f.Name] = vals[i : i+1 : i+1]
	}
}

// ForwardFields appends to dst the fields the gateway adds to a request
// it forwards as the client sent it, for a sender that writes them after
// the client's own fields kept by EndToEnd, each replacing the client's
// of the same name (h1.Outbound): Te: trailers when the client asked for
// trailers (as CopyEndToEnd keeps it), then SetHeaders's fields. The
// request that results is the one CopyEndToEnd and SetHeaders build.
func ForwardFields(dst []wire.Field, in *http.Request, x *pipeline.Exchange, trusted []netip.Prefix) []wire.Field {
	if asksTrailers(in.Header) {
		dst = append(dst, wire.Field{Name: "Te", Value: "trailers"})
	}
	return appendSet(dst, in, x, trusted)
}

// maxSet is the most fields appendSet appends; MaxForwardFields is the
// most ForwardFields appends, for a caller's buffer.
const (
	maxSet           = 10
	MaxForwardFields = maxSet + 1
)

// appendSet appends the fields SetHeaders sets, in the order it sets them.
func appendSet(dst []wire.Field, in *http.Request, x *pipeline.Exchange, trusted []netip.Prefix) []wire.Field {
	set := func(k, v string) { dst = append(dst, wire.Field{Name: k, Value: v}) }
	set("X-Forwarded-For", forwardedFor(in, trusted))
	if in.Host != "" {
		set("X-Forwarded-Host", in.Host)
	}
	if x.TLS {
		set("X-Forwarded-Proto", "https")
	} else {
		set("X-Forwarded-Proto", "http")
	}
	// The port the client connected to, as -Host and -Proto describe
	// that connection: never a client's or a proxy's value.
	if p := localPort(in); p != "" {
		set("X-Forwarded-Port", p)
	}
	clientIP := x.ClientIP
	if clientIP == "" {
		clientIP = ClientIP(in, trusted)
	}
	set("X-Real-Ip", clientIP)
	if x.ID != "" {
		set("X-Request-Id", x.ID)
	}
	if c := x.Consumer; c != nil {
		set("X-Consumer-Id", c.ID)
		if len(c.Groups) > 0 {
			set("X-Consumer-Groups", strings.Join(c.Groups, ","))
		}
	}
	if cc := x.ClientCert; cc != nil {
		set("X-Client-Cert-Subject", cc.Subject)
		set("X-Client-Cert-Fingerprint", cc.Fingerprint)
	}
	return dst
}

// localPort returns the port of the gateway's listener that r came in on,
// as text, or "" when r's context does not say (a request not made by
// net/http's server).
func localPort(r *http.Request) string {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if a == nil {
		return ""
	}
	if c := lastPort.Load(); c != nil && c.port == a.Port {
		return c.text
	}
	c := &portText{port: a.Port, text: strconv.Itoa(a.Port)}
	lastPort.Store(c)
	return c.text
}

// lastPort caches the text of the last port localPort formatted: a gateway
// listens on one port, so requests do not allocate it.
var lastPort atomic.Pointer[portText]

type portText struct {
	port int
	text string
}
