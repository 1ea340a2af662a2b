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

// checkUpstreamTLS checks an upstream's tls block without reading its
// files; the plan reads them and reports what they hold at the same paths.
func checkUpstreamTLS(l *problemList, p string, u *Upstream) {
	t := u.TLS
	if t == nil {
		return
	}
	p += ".tls"
	if u.Lambda != nil {
		l.add(p, "applies to targets, not to a lambda function")
	}
	https := false
	for _, tg := range u.Targets {
		https = https || (tg != nil && strings.HasPrefix(strings.ToLower(tg.URL), "https://"))
	}
	if !https && u.Lambda == nil {
		l.add(p, "applies to https:// targets; this upstream has none")
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		l.add(p+".key_file", "required with cert_file: the PEM private key of the client certificate")
	case t.CertFile == "" && t.KeyFile != "":
		l.add(p+".cert_file", "required with key_file: the PEM client certificate")
	}
	if _, err := netip.ParseAddr(t.ServerName); err != nil && t.ServerName != "" && strings.ContainsAny(t.ServerName, " /:") {
		l.add(p+".server_name", "want a host name, got %q", t.ServerName)
	}
}
