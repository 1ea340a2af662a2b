package forward

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Rules are a route's request_headers or response_headers, compiled: names
// canonical, order fixed (remove, then set, then add). Rules are immutable
// and safe for concurrent use.
type Rules struct {
	remove []string
	set    []headerValue
	add    []headerValue
	// host is the request Host to send instead of the target's ("" keeps
	// the target's); only a request rule "set: {Host: ...}" fills it.
	host string
}

type headerValue struct{ name, value string }

// framing lists headers that describe the message or the connection rather
// than the resource; a rule changing them could desynchronise the gateway and
// its peer (request smuggling) or break the stream.
var framing = map[string]bool{
	"Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Te": true,
	"Trailer": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true,
}

// CompileRules checks and compiles hr; request is true for request_headers.
// It returns nil when hr has no rules.
func CompileRules(hr *config.HeaderRules, request bool) (*Rules, error) {
	if hr == nil || len(hr.Set)+len(hr.Add)+len(hr.Remove) == 0 {
		return nil, nil
	}
	var errs []error
	checkName := func(kind, name string) (string, bool) {
		if !validName(name) {
			errs = append(errs, fmt.Errorf("%s: invalid header name %q", kind, name))
			return "", false
		}
		c := http.CanonicalHeaderKey(name)
		if framing[c] {
			errs = append(errs, fmt.Errorf("%s: header %s cannot be changed by a rule", kind, c))
			return "", false
		}
		if c == "Host" && (!request || kind != "set") {
			errs = append(errs, fmt.Errorf("%s: Host can only be set, on requests", kind))
			return "", false
		}
		return c, true
	}
	values := func(kind string, m map[string]string) []headerValue {
		out := make([]headerValue, 0, len(m))
		for name, v := range m {
			c, ok := checkName(kind, name)
			if !ok {
				continue
			}
			if !validValue(v) {
				errs = append(errs, fmt.Errorf("%s: invalid value for %s (control characters)", kind, c))
				continue
			}
			out = append(out, headerValue{c, v})
		}
		// Maps have no order; sorted rules make the outcome reproducible.
		slices.SortFunc(out, func(a, b headerValue) int { return strings.Compare(a.name, b.name) })
		return out
	}
	r := &Rules{}
	for _, name := range hr.Remove {
		if c, ok := checkName("remove", name); ok {
			r.remove = append(r.remove, c)
		}
	}
	r.set = values("set", hr.Set)
	r.add = values("add", hr.Add)
	r.set = slices.DeleteFunc(r.set, func(v headerValue) bool {
		if v.name == "Host" {
			r.host = v.value
			return true
		}
		return false
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Apply changes h: remove, then set, then add; a nil r does nothing.
func (r *Rules) Apply(h http.Header) {
	if r == nil {
		return
	}
	for _, name := range r.remove {
		delete(h, name)
	}
	for _, v := range r.set {
		h[v.name] = []string{v.value}
	}
	for _, v := range r.add {
		h[v.name] = append(h[v.name], v.value)
	}
}

// EditsHeader reports whether Apply changes a header at all (a rule
// that only sets Host does not).
func (r *Rules) EditsHeader() bool {
	return r != nil && len(r.remove)+len(r.set)+len(r.add) > 0
}

// Host returns the request Host a rule "set: {Host: ...}" asks for, "" when
// none does (the target's stays); a nil r returns "".
func (r *Rules) Host() string {
	if r == nil {
		return ""
	}
	return r.host
}

// StripOwned removes the headers only the gateway may set, whatever case
// the client used: auth fills X-Consumer-* and X-Client-Cert-* from the
// Exchange, and X-Real-IP is the client address the gateway trusts.
// Proxy-Authorization is meant for this hop and is never passed on.
func StripOwned(h http.Header) {
	for k := range h {
		if owned(k) {
			delete(h, k)
		}
	}
}

// owned reports whether k names a header only the gateway sets, in any
// case: net/http leaves some keys uncanonicalized.
func owned(k string) bool {
	// Each of them ends in d, s, p, n or t: most names are ruled out by
	// their last byte, before a comparison.
	if k == "" {
		return false
	}
	switch k[len(k)-1] | 0x20 {
	case 'd', 's', 'p', 'n', 't':
	default:
		return false
	}
	switch len(k) {
	case len("X-Consumer-Id"), len("X-Consumer-Groups"), len("X-Real-Ip"), len("Proxy-Authorization"):
		return strings.EqualFold(k, "X-Consumer-Id") || strings.EqualFold(k, "X-Consumer-Groups") ||
			strings.EqualFold(k, "X-Real-Ip") || strings.EqualFold(k, "Proxy-Authorization")
	case len("X-Client-Cert-Subject"), len("X-Client-Cert-Fingerprint"):
		return strings.EqualFold(k, "X-Client-Cert-Subject") || strings.EqualFold(k, "X-Client-Cert-Fingerprint")
	}
	return false
}

// DropGatewayOwned deletes from res, an upstream's response header, what
// the gateway already set in out, the client's response header: the
// server answers every response with its X-Request-ID, which an upstream
// that echoes it must not make appear twice, and the rate-limit plugin's
// RateLimit-* fields win over an upstream's. MergeResponse makes the same
// decision in its walk.
func DropGatewayOwned(out, res http.Header) {
	if _, ok := out["X-Request-Id"]; ok {
		delete(res, "X-Request-Id")
	}
	if _, ok := out["Ratelimit-Limit"]; ok {
		for _, k := range rateLimitFields {
			delete(res, k)
		}
	}
}

// rateLimitFields are the rate-limit plugin's answer fields, the first
// the one whose presence says the gateway set them.
var rateLimitFields = [...]string{"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"}

func rateLimitField(k string) bool {
	return k == rateLimitFields[0] || k == rateLimitFields[1] || k == rateLimitFields[2]
}

// validName and validValue are the wire's rules for header fields.
func validName(s string) bool  { return wire.ValidFieldName(s) }
func validValue(s string) bool { return wire.ValidFieldValue(s) }
