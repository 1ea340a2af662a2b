package balancer

import (
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Ring sizes: 160 points per weight unit, as Ketama (libketama, NGINX's
// hash consistent) uses, so keys spread within a few percent of the
// weights; a ring of very large weights is scaled down to maxPoints.
const (
	pointsPerWeight = 160
	maxPoints       = 1 << 16
)

// newHash returns the hash Picker: a consistent-hash ring keyed by the
// request as hashOn says (header:NAME, cookie:NAME, query:NAME, ip or
// consumer). A key always lands on the same member while that member is
// available; when it is not, the key moves to the next member clockwise on
// the ring, and only that member's keys move. Adding a member to N takes
// about 1/(N+1) of the keys, all of them to the new member.
//
// A request without the key (no such header, cookie or query parameter, or
// an anonymous caller for consumer) is keyed by its client IP instead, so it
// still sticks somewhere.
//
// The ring is placed by each member's Key with FNV-1a, never by a random
// seed: every gateway instance, and every restart, maps a key to the same
// target.
func newHash(members []Member, hashOn string) (Picker, error) {
	h := &hash{members: members}
	kind, name, _ := strings.Cut(hashOn, ":")
	switch {
	case hashOn == "ip":
		h.kind = keyIP
	case hashOn == "consumer":
		h.kind = keyConsumer
	case kind == "header" && name != "":
		h.kind, h.name = keyHeader, textproto.CanonicalMIMEHeaderKey(name)
	case kind == "cookie" && name != "":
		h.kind, h.name = keyCookie, name
	case kind == "query" && name != "":
		h.kind, h.name = keyQuery, name
	default:
		return nil, fmt.Errorf("hash_on %q: want header:NAME, cookie:NAME, query:NAME, ip or consumer", hashOn)
	}
	h.ring = buildRing(members)
	return h, nil
}

type keyKind uint8

const (
	keyIP keyKind = iota
	keyConsumer
	keyHeader
	keyCookie
	keyQuery
)

type point struct {
	hash   uint64
	member int32
}

type hash struct {
	members []Member
	kind    keyKind
	name    string
	ring    []point
	// next keys requests that carry no key at all (no exchange, no peer).
	next atomic.Uint64
}

func buildRing(members []Member) []point {
	var total int
	for _, m := range members {
		total += m.Weight
	}
	scale := 1.0
	if total*pointsPerWeight > maxPoints {
		scale = float64(maxPoints) / float64(total*pointsPerWeight)
	}
	var ring []point
	for i, m := range members {
		n := max(1, int(float64(m.Weight*pointsPerWeight)*scale))
		for v := range n {
			ring = append(ring, point{hash: sum(m.Key + "-" + strconv.Itoa(v)), member: int32(i)})
		}
	}
	slices.SortFunc(ring, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.member - b.member)
	})
	return ring
}

func (h *hash) Pick(r *http.Request, tried Tried) int {
	if !anyUsable(h.members, tried) {
		return -1
	}
	return h.lookup(h.keyHash(r), tried)
}

// lookup walks the ring clockwise from the first point at or after k to the
// first usable member. The caller has checked that one exists.
func (h *hash) lookup(k uint64, tried Tried) int {
	lo, hi := 0, len(h.ring)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.ring[mid].hash < k {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := range len(h.ring) {
		m := int(h.ring[(lo+i)%len(h.ring)].member)
		if usable(h.members, m, tried) {
			return m
		}
	}
	return -1
}

func (h *hash) keyHash(r *http.Request) uint64 {
	if r == nil {
		return mix(h.next.Add(1))
	}
	var key string
	switch h.kind {
	case keyHeader:
		if v := r.Header[h.name]; len(v) > 0 {
			key = v[0]
		}
	case keyCookie:
		key = cookieValue(r.Header["Cookie"], h.name)
	case keyQuery:
		if r.URL != nil {
			key = queryValue(r.URL.RawQuery, h.name)
		}
	case keyConsumer:
		if x := pipeline.ExchangeOf(r); x != nil && x.Consumer != nil {
			key = x.Consumer.ID
		}
	}
	if key == "" {
		key = clientIP(r)
	}
	if key == "" {
		// Spread keyless requests rather than piling them on one member.
		return mix(h.next.Add(1))
	}
	return sum(key)
}

func clientIP(r *http.Request) string {
	if x := pipeline.ExchangeOf(r); x != nil && x.ClientIP != "" {
		return x.ClientIP
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// cookieValue finds cookie name in Cookie header lines without allocating
// (http.Request.Cookie parses and allocates every cookie).
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v
			}
		}
	}
	return ""
}

// queryValue returns the raw (still escaped) value of the first parameter
// called name. The escaped form is as good a key as the decoded one and
// costs no allocation.
func queryValue(raw, name string) string {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, v, _ := strings.Cut(part, "="); k == name {
			return v
		}
	}
	return ""
}

// sum is the ring's hash: 64-bit FNV-1a with a final avalanche (MurmurHash3's
// fmix64), because plain FNV-1a spreads short similar keys ("user-1",
// "user-2") poorly over the high bits.
func sum(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return mix(h)
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
