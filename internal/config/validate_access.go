package config

import (
	"net/netip"
	"strings"
)

// checkIPRules checks a route's ip rules: every entry an address or a
// CIDR, as server.trusted_proxies takes them.
func checkIPRules(l *problemList, p string, r *IPRules) {
	if r == nil {
		return
	}
	if len(r.Allow) == 0 && len(r.Deny) == 0 {
		l.add(p, "set allow, deny or both: lists of addresses or CIDRs like \"10.0.0.0/8\"")
	}
	for key, list := range map[string][]string{"allow": r.Allow, "deny": r.Deny} {
		for i, s := range list {
			if !validAddrOrPrefix(s) {
				l.add(index(p+"."+key, i), "want an IP address or CIDR like \"10.0.0.0/8\", got %q", s)
			}
		}
	}
}

func validAddrOrPrefix(s string) bool {
	s = strings.TrimSpace(s)
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
