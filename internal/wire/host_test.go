package wire

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestSplitHost(t *testing.T) {
	for _, c := range []struct {
		in, host, port string
		ok             bool
	}{
		{"example.com", "example.com", "", true},
		{"Example.COM.", "example.com", "", true},
		{"api.example.com:8443", "api.example.com", "8443", true},
		{"under_score.local:1", "under_score.local", "1", true},
		{"127.0.0.1", "127.0.0.1", "", true},
		{"127.0.0.1:19501", "127.0.0.1", "19501", true},
		{"[::1]", "::1", "", true},
		{"[::1]:8080", "::1", "8080", true},
		{"[2001:DB8:0::1]:443", "2001:db8::1", "443", true},
		{"[::ffff:1.2.3.4]:80", "1.2.3.4", "80", true},
		{"[::FFFF:1.2.3.4]", "1.2.3.4", "", true},
		{"", "", "", false},
		{":80", "", "", false},
		{"example.com:", "", "", false},
		{"example.com:0", "", "", false},
		{"example.com:65536", "", "", false},
		{"example.com:123456", "", "", false},
		{"example.com:8o", "", "", false},
		{"::1", "", "", false},            // IPv6 without brackets
		{"[::1", "", "", false},           // unclosed
		{"[::1]x", "", "", false},         // junk after the bracket
		{"[::1]:", "", "", false},         // empty port
		{"[fe80::1%eth0]", "", "", false}, // zone
		{"[1.2.3.4]", "", "", false},      // IPv4 in brackets
		{"[example.com]", "", "", false},
		{"exa mple.com", "", "", false},
		{"a!b.com", "", "", false},
		{"a/b", "", "", false},
		{"é.example", "", "", false},
		{"..", "", "", false},
		{".example.com", "", "", false},
		{"a..b", "", "", false},
	} {
		h, p, ok := SplitHost(c.in)
		if h != c.host || p != c.port || ok != c.ok {
			t.Errorf("SplitHost(%q) = %q, %q, %v; want %q, %q, %v", c.in, h, p, ok, c.host, c.port, c.ok)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM.":      "example.com",
		"[2001:DB8:0:0::1]": "2001:db8::1",
		"2001:db8::1":       "2001:db8::1",
		"::ffff:10.0.0.1":   "10.0.0.1",
		"10.0.0.1":          "10.0.0.1",
		"localhost":         "localhost",
		"*.Example.com":     "*.example.com",
	} {
		if got := CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// An IPv4 host, the common case of a request addressed by IP, costs no
// allocation; neither does a lower-case name.
func TestSplitHostAllocs(t *testing.T) {
	for _, in := range []string{"127.0.0.1:8080", "api.example.com:443", "api.example.com"} {
		if n := testing.AllocsPerRun(100, func() { SplitHost(in) }); n != 0 {
			t.Errorf("SplitHost(%q): %v allocations", in, n)
		}
	}
}

// FuzzSplitHost: whatever SplitHost accepts is canonical and reads back
// the same, and agrees with net.SplitHostPort on where the port is.
func FuzzSplitHost(f *testing.F) {
	for _, s := range []string{"example.com", "A.B:80", "[::1]:1", "[::ffff:1.2.3.4]", "1.2.3.4:65535", "[", "]:", "a:b:c", "%41", "x."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, ok := SplitHost(s)
		if !ok {
			if h != "" || p != "" {
				t.Fatalf("SplitHost(%q) refused but returned %q, %q", s, h, p)
			}
			return
		}
		if h == "" || strings.ToLower(h) != h || strings.HasSuffix(h, ".") || strings.ContainsAny(h, "[]") {
			t.Fatalf("SplitHost(%q) host %q is not canonical", s, h)
		}
		if CanonicalHost(h) != h {
			t.Fatalf("SplitHost(%q) host %q: CanonicalHost gives %q", s, h, CanonicalHost(h))
		}
		again := h
		if strings.Contains(h, ":") {
			again = "[" + h + "]"
		}
		if p != "" {
			again += ":" + p
			if _, np, err := net.SplitHostPort(s); err != nil || np != p {
				t.Fatalf("SplitHost(%q) port %q, net.SplitHostPort says %q, %v", s, p, np, err)
			}
		}
		if h2, p2, ok2 := SplitHost(again); !ok2 || h2 != h || p2 != p {
			t.Fatalf("SplitHost(%q) = %q, %q; reading back %q gives %q, %q, %v", s, h, p, again, h2, p2, ok2)
		}
	})
}

// FuzzCanonicalHost: CanonicalHost, which parses only a text with a colon,
// gives what parsing every text that could be an address would give.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "010.0.0.1", "1.2.3", "1.2.3.4.", "[::ffff:1.2.3.4]", "::1", "Example.COM.", "256.1.1.1", "1..2"} {
		f.Add(s)
	}
	parsingAll := func(h string) string {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		h = strings.TrimSuffix(h, ".")
		if a, err := netip.ParseAddr(h); err == nil {
			return canonicalAddr(a, h)
		}
		if strings.ContainsFunc(h, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			return strings.ToLower(h)
		}
		return h
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CanonicalHost(s), parsingAll(s); got != want {
			t.Fatalf("CanonicalHost(%q) = %q, parsing it gives %q", s, got, want)
		}
	})
}
