package router

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// parseHost checks and normalizes one entry of match.hosts: an exact name
// ("api.example.com"), an IP address, or a wildcard "*.example.com". Names
// are lowercased and a trailing dot is dropped, as the server does for the
// request's host. A wildcard matches one label or more in front of its
// suffix ("a.example.com", "a.b.example.com"), never the bare suffix
// ("example.com").
func parseHost(s string) (string, error) {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if h == "" {
		return "", fmt.Errorf("host %q: must not be empty; leave hosts out to match any host", s)
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("host %q: hosts are matched without port; write the name alone", s)
		}
		return wire.CanonicalHost(h), nil
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return "", fmt.Errorf("host %q: empty label", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case c == '*':
				return "", fmt.Errorf("host %q: \"*\" is only allowed as the whole first label, as in \"*.example.com\"", s)
			default:
				return "", fmt.Errorf("host %q: invalid character %q", s, string(c))
			}
		}
	}
	return h, nil
}

// isWildcard reports whether a normalized host is "*.suffix".
func isWildcard(h string) bool { return strings.HasPrefix(h, "*.") }
