package keyauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// maxKeyLen is the longest key looked up. Generated keys are 35 bytes and
// config keys are short strings; anything past this is garbage or an attempt
// to make the gateway hash megabytes, refused without a lookup.
const maxKeyLen = 256

// Reasons a presented key is refused. They never quote the key.
var (
	// ErrInvalidKey: the key is unknown, revoked or malformed.
	ErrInvalidKey = errors.New("invalid API key")
	// ErrAmbiguousKey: the request carries more than one different key.
	ErrAmbiguousKey = errors.New("more than one API key in the request")
)

// extractor finds the key in a request. It is immutable.
type extractor struct {
	header string // canonical header name
	query  string // query parameter name; "" disables query keys
}

// extract returns the request's key and removes every copy of it from r
// (header and query parameter), whether or not the key turns out to be
// valid: a rejected request is still logged, and a key refused during a
// storage outage may well be a good one.
//
// present is false when the request carries no key. err is ErrInvalidKey
// for an oversized or undecodable key and ErrAmbiguousKey when two places
// (or two header lines, or two parameters) carry different keys.
func (x *extractor) extract(r *http.Request) (key string, present bool, err error) {
	var fromHeader string
	if vs, ok := r.Header[x.header]; ok && !x.bearerTokens(vs) {
		delete(r.Header, x.header)
		for _, v := range vs {
			v = x.credential(v)
			switch {
			case v == "":
			case fromHeader == "":
				fromHeader = v
			case v != fromHeader:
				err = ErrAmbiguousKey
			}
		}
	}
	var fromQuery string
	if x.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		var qerr error
		if fromQuery, qerr = x.stripQuery(r); qerr != nil && err == nil {
			err = qerr
		}
	}
	switch {
	case fromHeader == "":
		key = fromQuery
	case fromQuery == "" || fromQuery == fromHeader:
		key = fromHeader
	default:
		err = ErrAmbiguousKey
	}
	if err == nil && len(key) > maxKeyLen {
		err = ErrInvalidKey
	}
	if err != nil {
		return "", true, err
	}
	return key, key != "", nil
}

// credential is the key a header value carries: the value itself, or in
// Authorization the part after a "Bearer " scheme.
func (x *extractor) credential(v string) string {
	v = strings.TrimSpace(v)
	if x.header == "Authorization" {
		if scheme, rest := wire.CutAuthScheme(v); strings.EqualFold(scheme, "Bearer") {
			return rest
		}
	}
	return v
}

// bearerTokens reports whether Authorization values, when the key is read
// from Authorization, are all bearer tokens shaped like a JWT (two dots:
// header.payload.signature, the signature possibly empty) rather than keys.
// Those belong to the route's jwt methods and are left in place; a key
// shaped that way cannot be sent in Authorization.
func (x *extractor) bearerTokens(vs []string) bool {
	if x.header != "Authorization" {
		return false
	}
	for _, v := range vs {
		scheme, rest := wire.CutAuthScheme(v)
		if !strings.EqualFold(scheme, "Bearer") || strings.Count(rest, ".") != 2 {
			return false
		}
	}
	return true
}

// StripKey removes an API key from r without reading it: the header (unless
// it is Authorization, which other credentials share) and the query
// parameter query (when not empty), as a route whose auth does not read
// keys must, so that a key is never forwarded (#13).
func StripKey(r *http.Request, header, query string) {
	x := extractor{header: http.CanonicalHeaderKey(header), query: query}
	if x.header != "" && x.header != "Authorization" {
		delete(r.Header, x.header)
	}
	if x.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		_, _ = x.stripQuery(r)
	}
}

// stripQuery removes the key parameter from r.URL.RawQuery, and from
// r.RequestURI (which access logs may print), and returns its value.
func (x *extractor) stripQuery(r *http.Request) (string, error) {
	orig := r.URL.RawQuery
	rest, val, found, err := stripParam(orig, x.query)
	if !found {
		return "", nil
	}
	r.URL.RawQuery = rest
	if path, q, ok := strings.Cut(r.RequestURI, "?"); ok {
		// RequestURI's query is usually RawQuery itself; it differs only
		// when an earlier step rewrote the URL.
		qrest := rest
		if q != orig {
			qrest, _, _, _ = stripParam(q, x.query)
		}
		if qrest != "" {
			r.RequestURI = path + "?" + qrest
		} else {
			r.RequestURI = path
		}
	}
	return val, err
}

// stripParam removes every name=value pair whose decoded name is name from
// the raw query q, leaving the other pairs and their separators exactly as
// they were, and returns the decoded value. Names are decoded as
// url.ParseQuery does, so "api%5Fkey" is caught too: what Go's parser would
// hand an upstream must not be left behind.
func stripParam(q, name string) (rest, val string, found bool, err error) {
	// Most requests carry no key in the query: look before building.
	i := 0
	for seg := range strings.SplitSeq(q, "&") {
		if k, _, _ := strings.Cut(seg, "="); paramIs(k, name) {
			found = true
			break
		}
		i += len(seg) + 1
	}
	if !found {
		return q, "", false, nil
	}
	var b strings.Builder
	b.Grow(len(q))
	// Segments before the first match are kept as one block.
	b.WriteString(strings.TrimSuffix(q[:i], "&"))
	first := i == 0
	for seg := range strings.SplitSeq(q[i:], "&") {
		k, v, _ := strings.Cut(seg, "=")
		if !paramIs(k, name) {
			if !first {
				b.WriteByte('&')
			}
			b.WriteString(seg)
			first = false
			continue
		}
		if len(v) > 3*maxKeyLen {
			err = ErrInvalidKey
			continue
		}
		dv, derr := url.QueryUnescape(v)
		switch {
		case derr != nil:
			err = ErrInvalidKey
		case dv == "":
		case val == "":
			val = dv
		case dv != val:
			err = ErrAmbiguousKey
		}
	}
	return b.String(), strings.TrimSpace(val), true, err
}

// paramIs reports whether the raw parameter name k decodes to name.
func paramIs(k, name string) bool {
	if k == name {
		return true
	}
	if !strings.ContainsAny(k, "%+") {
		return false
	}
	dk, err := url.QueryUnescape(k)
	return err == nil && dk == name
}
