package hostguard

import (
	"net"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/wire"
)

// TestGuardUnspecified: on 0.0.0.0 the machine's own addresses are its
// names; foreign names are still refused.
func TestGuardUnspecified(t *testing.T) {
	t.Parallel()
	g := New("0.0.0.0:9080", &net.TCPAddr{IP: net.IPv4zero, Port: 9080}, nil, nil)
	for _, h := range []string{"0.0.0.0:9080", "[::]:9080", "evil.example"} {
		if g.hostAllowed(h) {
			t.Errorf("hostAllowed(%q) = true on 0.0.0.0, want false", h)
		}
	}
	for _, h := range []string{"127.0.0.1:9080", "localhost"} {
		if !g.hostAllowed(h) {
			t.Errorf("hostAllowed(%q) = false, want true", h)
		}
	}
}

// FuzzGuard checks the Host and Origin parsers: they never panic, a Host
// accepted names one of the accepted hosts, and an accepted Origin is the
// admin's own or a listed one.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"localhost:9080", "[::1]", "LOCALHOST.", "evil.example", "[::1", "127.0.0.1:0", "http://localhost:9080", "null", "https://console.example.com:443", "[fe80::1%25eth0]:80"} {
		f.Add(s, s)
	}
	g := New("gantry-admin:9080", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9080}, []string{"admin.example.com:8443"}, []string{"https://console.example.com"})
	f.Fuzz(func(t *testing.T, host, origin string) {
		if g.hostAllowed(host) {
			h, _, ok := wire.SplitHost(host)
			if _, known := g.hosts[h]; !ok || !known {
				t.Fatalf("hostAllowed(%q) = true for host %q, not an accepted one", host, h)
			}
		}
		if g.originAllowed([]string{origin}, host) {
			o, ok := normalOrigin(origin)
			if !ok || !g.origins[o] && !strings.HasPrefix(o, "http://") {
				t.Fatalf("originAllowed(%q) = true, normalised %q", origin, o)
			}
		}
	})
}
