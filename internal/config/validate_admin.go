package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkAdminOrigins checks admin.allowed_hosts and admin.allowed_origins.
func checkAdminOrigins(l *problemList, a Admin) {
	checkAllowed(l, "admin", a.AllowedHosts, a.AllowedOrigins)
}

// checkAllowed checks section.allowed_hosts and section.allowed_origins
// (admin, portal).
func checkAllowed(l *problemList, section string, hosts, origins []string) {
	for i, h := range hosts {
		if err := checkHostPort(h); err != nil {
			l.add(fmt.Sprintf("%s.allowed_hosts[%d]", section, i), "%v", err)
		}
	}
	for i, o := range origins {
		p := fmt.Sprintf("%s.allowed_origins[%d]", section, i)
		scheme, rest, ok := strings.Cut(o, "://")
		if !ok || (scheme != "http" && scheme != "https") {
			l.add(p, "want an origin like \"https://console.example.com\" (http or https, host, optional port), got %q", o)
			continue
		}
		if err := checkHostPort(rest); err != nil {
			l.add(p, "want an origin like \"https://console.example.com\" with no path: %v", err)
		}
	}
}

// checkHostPort checks a host name or IP address with an optional port, as
// a Host header carries it: "admin.example.com", "10.0.0.5:9080",
// "[fd00::5]:9080".
func checkHostPort(s string) error {
	if strings.ContainsAny(s, "/?#@* ") {
		return fmt.Errorf("want a host name or address with an optional port, got %q", s)
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				return fmt.Errorf("want a host name or address with an optional port, got %q", s)
			}
			h = s[1 : len(s)-1]
		}
		host, port = h, p
	}
	// "host:" has an empty port, which the admin guard does not accept:
	// refused here rather than ignored there.
	if port != "" || strings.HasSuffix(s, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("want a port number 1-65535, got %q", port)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() && !ip.Is4In6() && !strings.HasPrefix(s, "[") || ip.Zone() != "" {
			return fmt.Errorf("write an IPv6 address in brackets, without a zone: \"[%s]\"", ip.WithZone(""))
		}
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("want a host name or address with an optional port, got %q", s)
	}
	return nil
}

// validatePortal checks the portal section, when there is one.
func (c *Config) validatePortal(l *problemList) {
	p := c.Portal
	if p == nil {
		return
	}
	if p.Listen == "" {
		l.add("portal.listen", "required: the portal's address, such as \"127.0.0.1:9090\"")
	} else {
		checkListen(l, "portal.listen", p.Listen)
		for _, other := range []struct{ key, addr string }{{"server.listen", c.Server.Listen}, {"admin.listen", c.Admin.Listen}} {
			if p.Listen == other.addr && !strings.HasSuffix(p.Listen, ":0") {
				l.add("portal.listen", "%q is also %s: give the portal its own address", p.Listen, other.key)
			}
		}
	}
	if len(p.Title) > 200 {
		l.add("portal.title", "want at most 200 characters, got %d", len(p.Title))
	}
	checkAllowed(l, "portal", p.AllowedHosts, p.AllowedOrigins)
	names := map[string]bool{}
	for _, j := range c.Auth.JWT {
		if j != nil {
			names[j.Name] = true
		}
	}
	for i, n := range p.JWT {
		if !names[n] {
			l.add(fmt.Sprintf("portal.jwt[%d]", i), "no auth.jwt provider is named %q", n)
		}
	}
}
