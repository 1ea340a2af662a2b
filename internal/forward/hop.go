package forward

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// CopyEndToEnd copies the end-to-end headers of the client's request into
// dst, for the proxy's direct way and for terminals that build their own
// request (lambda). What ReverseProxy strips (hop-by-hop headers and those
// the client named in Connection, Forwarded and X-Forwarded-*) and what only
// the gateway sets (StripOwned) stay out. TE: trailers is kept, as
// ReverseProxy keeps it. Value slices are shared, capped so that an append
// by a header rule copies them.
func CopyEndToEnd(dst, src http.Header) {
	listed := src["Connection"]
	for k, vv := range src {
		if EndToEnd(k, listed) {
			dst[k] = vv[:len(vv):len(vv)]
		}
	}
	if asksTrailers(src) {
		dst["Te"] = teTrailers
	}
}

// asksTrailers reports whether the client's Te says it accepts trailers:
// the one Te value that goes on to the upstream (ReverseProxy keeps it).
func asksTrailers(h http.Header) bool { return wire.HasToken(h["Te"], "trailers") }

// EndToEnd reports whether the client's header field k goes on to the
// upstream, listed being the client's Connection values: not when
// CopyEndToEnd leaves it out (hop-by-hop, named in Connection, Forwarded
// and X-Forwarded-*, owned by the gateway). Te: trailers is not kept
// here; CopyEndToEnd and ForwardFields add it back.
func EndToEnd(k string, listed []string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port":
		return false
	}
	return !owned(k) && (len(listed) == 0 || !wire.HasToken(listed, k))
}

var teTrailers = []string{"trailers"}

// RemoveHopByHop deletes from a response header what ReverseProxy deletes:
// the headers named in Connection and the hop-by-hop ones of RFC 9110. The
// hop-by-hop names, Connection's values with them, are found in one walk
// over h: a response holds a few fields, and deleting each of nine names,
// present or not, cost a hash and a probe apiece.
func RemoveHopByHop(h http.Header) {
	var listed []string
	for k, vv := range h {
		if k == "Connection" {
			listed = vv
			delete(h, k)
		} else if hopByHop(k) {
			delete(h, k)
		}
	}
	for _, k := range listedNames(listed) {
		delete(h, k)
	}
}

// hopByHop reports the hop-by-hop response fields of RFC 9110 that
// ReverseProxy deletes, Connection aside: its values name more.
func hopByHop(k string) bool {
	switch k {
	case "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// listedNames returns the field names an answer's Connection values list,
// canonical; nil for none.
func listedNames(listed []string) []string {
	var names []string
	for _, v := range listed {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	return names
}

// MergeResponse adds res, an upstream's response header, to dst, the
// client's, as RemoveHopByHop(res), DropGatewayOwned(dst, res) and then
// AddValues for each field would, in one walk over res and without
// changing it: the hop-by-hop fields and those its Connection names stay
// out, and so do the upstream's X-Request-Id and RateLimit-* when the
// gateway set its own.
//
// The direct proxy path calls it for every answer read as a map: the
// three steps walk the header three times and probe it for absent names.
func MergeResponse(dst, res http.Header) {
	m := answerMerge{dst: dst, listed: listedNames(res["Connection"])}
	for k, vv := range res {
		if m.keep(k) {
			AddValues(dst, k, vv)
		}
	}
}

// KeepFields is MergeResponse's decision for a header given as a list,
// names (canonical) and values alternating, as the HTTP/1.1 client reads
// one (h1.Outbound.List): it moves the fields MergeResponse would add to
// dst to the front of list, in order, and returns them. dst is only read.
// A writer that sends dst's fields and then a list's (the serving engine's
// WriteHeaderFields) takes them as they are; any other adds them to dst
// with wire.AddList, which makes what MergeResponse makes of the same
// header as a map.
func KeepFields(dst http.Header, list []string) []string {
	m := newFieldsMerge(dst, list)
	n := 0
	for i := 0; i+1 < len(list); i += 2 {
		if m.keep(list[i]) {
			list[n], list[n+1] = list[i], list[i+1]
			n += 2
		}
	}
	return list[:n]
}

// newFieldsMerge is the merge of list into dst, with the names the list's
// Connection fields name.
func newFieldsMerge(dst http.Header, list []string) answerMerge {
	m := answerMerge{dst: dst}
	for i := 0; i+1 < len(list); i += 2 {
		if list[i] == "Connection" {
			m.listed = append(m.listed, listedNames(list[i+1:i+2])...)
		}
	}
	return m
}

// AddValues appends vv to dst's values of k, or, when dst has none, gives
// dst vv itself, capped so that a later append copies it: an upstream's
// answer is one request's alone, and its values need no copy.
func AddValues(dst http.Header, k string, vv []string) {
	if prev, ok := dst[k]; ok {
		dst[k] = append(prev, vv...)
	} else {
		dst[k] = vv[:len(vv):len(vv)]
	}
}

// answerMerge is the decision MergeResponse and KeepFields make for each
// of an upstream's fields, as RemoveHopByHop and DropGatewayOwned make it.
type answerMerge struct {
	dst    http.Header
	listed []string // the names the answer's Connection lists, canonical
	// Whether the gateway set RateLimit-Limit, asked at the first
	// RateLimit-* field: before that, dst holds none of the upstream's.
	rateLimits int // 0 not asked, 1 the upstream's go, 2 they stay out
}

// keep reports whether the upstream's field k goes to the client.
func (m *answerMerge) keep(k string) bool {
	switch {
	case k == "Connection" || hopByHop(k):
		return false
	case slices.Contains(m.listed, k):
		return false
	case k == "X-Request-Id":
		_, ok := m.dst[k]
		return !ok
	case rateLimitField(k):
		if m.rateLimits == 0 {
			m.rateLimits = 1
			if _, ok := m.dst[rateLimitFields[0]]; ok {
				m.rateLimits = 2
			}
		}
		return m.rateLimits == 1
	}
	return true
}
