package forward

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// SetHeaders sets the headers the gateway gives every upstream request made
// for in: X-Forwarded-For/-Host/-Proto/-Port, X-Real-Ip, X-Request-Id and,
// after authentication, X-Consumer-Id and -Groups and, when a client
// certificate authenticated, X-Client-Cert-Subject and -Fingerprint.
// Proxied routes,
// aggregate calls and lambda events all use it, so upstreams see one
// contract.
func SetHeaders(hd http.Header, in *http.Request, x *pipeline.Exchange, trusted []netip.Prefix) {
	// One backing array for the values: one allocation instead of one per
	// header. Each value gets a full slice expression, so an append by a
	// later rule cannot overwrite its neighbour.
	vals := make([]string, 0, 8)
	set := func(k, v string) {
		vals = append(vals, v)
		n := len(vals)
		hd[k] = vals[n-1 : n : n]
	}
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
