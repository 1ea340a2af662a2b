package forward

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrusted parses server.trusted_proxies: CIDRs ("10.0.0.0/8") or bare
// addresses ("127.0.0.1", "::1"). IPv4-mapped IPv6 addresses are unmapped so
// that 127.0.0.1 also matches a peer seen as ::ffff:127.0.0.1. It returns
// every problem at once, and nil for an empty list.
func ParseTrusted(list []string) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	var errs []error
	for i, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("[%d] %q: want a CIDR like 10.0.0.0/8 or an address: %w", i, s, err))
				continue
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d] %q: want a CIDR like 10.0.0.0/8 or an address: %w", i, s, err))
			continue
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ClientIP returns the client's address as the gateway trusts it: the peer
// (r.RemoteAddr without port) unless the peer is a trusted proxy; then the
// right-most X-Forwarded-For hop that is not trusted, walking from the
// right as NGINX's real_ip_recursive does. A malformed hop stops the walk at
// the last good address, so garbage cannot choose the answer. It does not
// allocate for an untrusted peer.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	if len(trusted) == 0 {
		return peerHost(r.RemoteAddr)
	}
	peer, addr, ok := peerAddr(r.RemoteAddr)
	if !ok || !isTrusted(addr, trusted) {
		return peer
	}
	vals := r.Header["X-Forwarded-For"]
	best := peer
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		for v != "" {
			var hop string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				hop, v = v, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return best
			}
			best = a.String()
			if !isTrusted(a, trusted) {
				return best
			}
		}
	}
	return best
}

// TrustedPeer reports whether r came from a peer in trusted, a proxy whose
// X-Forwarded-* and Forwarded headers the gateway may take as they are. It
// does not parse the peer's address when trusted is empty.
func TrustedPeer(r *http.Request, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	_, addr, ok := peerAddr(r.RemoteAddr)
	return ok && isTrusted(addr, trusted)
}

// forwardedFor returns the outbound X-Forwarded-For: the incoming value plus
// the peer when the peer is a trusted proxy, else the peer alone, so a client
// cannot plant addresses.
func forwardedFor(r *http.Request, trusted []netip.Prefix) string {
	if len(trusted) == 0 {
		return peerHost(r.RemoteAddr)
	}
	peer, addr, ok := peerAddr(r.RemoteAddr)
	if !ok || !isTrusted(addr, trusted) {
		return peer
	}
	prior := r.Header["X-Forwarded-For"]
	switch len(prior) {
	case 0:
		return peer
	case 1:
		if strings.TrimSpace(prior[0]) == "" {
			return peer
		}
		return prior[0] + ", " + peer
	}
	return strings.Join(prior, ", ") + ", " + peer
}

// peerHost is peerAddr's address text alone, which is all a caller needs
// when no proxy is trusted: it parses only a text that may be an
// IPv4-mapped IPv6 address to unmap (one with a colon).
func peerHost(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	if strings.IndexByte(host, ':') < 0 {
		return host
	}
	host, _, _ = peerAddr(remote)
	return host
}

// peerAddr splits RemoteAddr ("1.2.3.4:5678", "[::1]:80") into the address
// text and its parsed form. IPv4-mapped addresses are unmapped.
func peerAddr(remote string) (string, netip.Addr, bool) {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, netip.Addr{}, false
	}
	if a.Is4In6() {
		a = a.Unmap()
		host = a.String()
	}
	return host, a, true
}

// parseHop parses one X-Forwarded-For element; some proxies add a port.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	a = a.WithZone("")
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
