package wire

import (
	"net/netip"
	"strings"
)

// SplitHost parses a Host header, or the authority of an Origin: a name,
// an IPv4 address or a bracketed IPv6 address, each with an optional port.
// host is in the one form every part of the gateway compares hosts in
// (CanonicalHost): lower case, without brackets or a trailing dot, an IP
// address in its canonical text. port is "" when none is given. ok is
// false for anything else: an empty or malformed name, a bad port, an IPv6
// address without brackets or with a zone.
//
// Routing (match.hosts), the admin listener's Host and Origin checks and
// the external authorization's forwarded host all read the client's host
// through it, so no two of them can disagree about which host a request
// named.
func SplitHost(s string) (host, port string, ok bool) {
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, s = s[1:end], s[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false
		}
		if s != "" {
			if s[0] != ':' || !validPort(s[1:]) {
				return "", "", false
			}
			port = s[1:]
		}
		return canonicalAddr(a, host), port, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return "", "", false
		}
	}
	host = CanonicalHost(host)
	if host == "" || !validHostName(host) {
		return "", "", false
	}
	return host, port, true
}

// CanonicalHost returns a host without port in SplitHost's form: lower
// case, brackets and a trailing dot dropped, an IP address as its
// canonical text (an IPv4-mapped IPv6 address as the IPv4 address). It
// checks nothing else; SplitHost does.
func CanonicalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	if maybeAddr(h) {
		if a, err := netip.ParseAddr(h); err == nil {
			return canonicalAddr(a, h)
		}
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// maybeAddr reports whether h could be an IP address whose text
// CanonicalHost must rewrite: only an IPv6 form can be (it holds a colon).
// An IPv4 address is canonical whenever netip.ParseAddr accepts it, and
// digits and dots that are not one are a name with nothing to lower, so
// either way h is returned as it is, and a request addressed by IPv4 need
// not pay for a parse.
func maybeAddr(h string) bool {
	return strings.IndexByte(h, ':') >= 0
}

// canonicalAddr returns a's canonical text; text is how it was written,
// returned as it is when already canonical (an IPv4 address, which
// netip.ParseAddr accepts in canonical form only), to spare an allocation
// on every request addressed by IP.
func canonicalAddr(a netip.Addr, text string) string {
	if a.Is4() {
		return text
	}
	if a.Is4In6() {
		return a.Unmap().String()
	}
	if s := a.String(); s != text {
		return s
	}
	return text
}

// validHostName reports whether a canonical host read outside brackets
// is a DNS name or an IPv4 address: letters, digits, '-', '_' and '.'
// without empty labels (an IPv6 address comes in brackets and is checked
// apart).
func validHostName(h string) bool {
	if h == "" || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false // an empty label
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// validPort reports whether p is a port number, 1 to 65535, in at most 5
// digits.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n <= 65535
}
