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
	for i, h := range a.AllowedHosts {
		if err := checkHostPort(h); err != nil {
			l.add(fmt.Sprintf("admin.allowed_hosts[%d]", i), "%v", err)
		}
	}
	for i, o := range a.AllowedOrigins {
		p := fmt.Sprintf("admin.allowed_origins[%d]", i)
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
