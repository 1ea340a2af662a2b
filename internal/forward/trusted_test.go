package forward

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrusted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "empty", in: nil, want: nil},
		{name: "cidrs and addresses", in: []string{"127.0.0.1/32", "10.0.0.0/8", " 192.168.1.7 ", "::1", "fd00::/8"}, want: []string{"127.0.0.1/32", "10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::/8"}},
		{name: "host bits masked", in: []string{"10.1.2.3/8"}, want: []string{"10.0.0.0/8"}},
		{name: "ipv4-mapped unmapped", in: []string{"::ffff:10.0.0.1", "::ffff:10.0.0.0/104"}, want: []string{"10.0.0.1/32", "10.0.0.0/8"}},
		{name: "zone dropped", in: []string{"fe80::1%eth0"}, want: []string{"fe80::1/128"}},
		{name: "bad cidr", in: []string{"10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{name: "hostname", in: []string{"proxy.internal"}, wantErr: `"proxy.internal"`},
		{name: "all problems", in: []string{"x", "127.0.0.1", "y/8"}, wantErr: `[2] "y/8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrusted(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTrusted(%q) error = %v, want one containing %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrusted(%q) error: %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if diff := cmp.Diff(tt.want, gotS); diff != "" {
				t.Errorf("ParseTrusted(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrusted([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer ignores xff", "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer without xff", "10.0.0.5:1234", nil, "10.0.0.5"},
		{"trusted peer, one hop", "10.0.0.5:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"skips trusted hops from the right", "10.0.0.5:1", []string{"1.2.3.4, 198.51.100.7, 10.3.3.3"}, "198.51.100.7"},
		{"spoofed left entries ignored", "127.0.0.1:1", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"several lines", "10.0.0.5:1", []string{"198.51.100.7", "10.1.1.1, 10.2.2.2"}, "198.51.100.7"},
		{"all trusted: leftmost", "10.0.0.5:1", []string{"10.9.9.9, 10.8.8.8"}, "10.9.9.9"},
		{"garbage stops the walk", "10.0.0.5:1", []string{"1.2.3.4, not-an-ip, 10.8.8.8"}, "10.8.8.8"},
		{"garbage right after peer", "10.0.0.5:1", []string{"<script>"}, "10.0.0.5"},
		{"hop with port", "10.0.0.5:1", []string{"198.51.100.7:4711"}, "198.51.100.7"},
		{"ipv6 hop with brackets", "10.0.0.5:1", []string{"[2a00::1]:443"}, "2a00::1"},
		{"ipv6 trusted peer", "[2001:db8::9]:1", []string{"2a00::1"}, "2a00::1"},
		{"mapped peer", "[::ffff:10.0.0.5]:1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"empty elements skipped", "10.0.0.5:1", []string{" , 198.51.100.7 ,, "}, "198.51.100.7"},
		{"remote without port", "203.0.113.9", nil, "203.0.113.9"},
		{"unparsable remote", "pipe", []string{"1.2.3.4"}, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != nil {
				r.Header["X-Forwarded-For"] = tt.xff
			}
			if got := ClientIP(r, trusted); got != tt.want {
				t.Errorf("ClientIP(%s, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestClientIPNoTrusted(t *testing.T) {
	t.Parallel()
	tests := []struct{ remote, want string }{
		{"203.0.113.9:1234", "203.0.113.9"},
		{"[2001:db8::9]:1", "2001:db8::9"},
		{"[::ffff:10.0.0.5]:1", "10.0.0.5"},
		{"203.0.113.9", "203.0.113.9"},
		{"::ffff:10.0.0.5", "10.0.0.5"},
		{"pipe", "pipe"},
		{"@", "@"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}
		if got := ClientIP(r, nil); got != tt.want {
			t.Errorf("ClientIP(%s, no trusted proxies) = %q, want %q", tt.remote, got, tt.want)
		}
		if got := forwardedFor(r, nil); got != tt.want {
			t.Errorf("forwardedFor(%s, no trusted proxies) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

func TestClientIPNoAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:1234"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if n := testing.AllocsPerRun(100, func() { ClientIP(r, trusted) }); n != 0 {
		t.Errorf("ClientIP() allocates %v times for an untrusted peer, want 0", n)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.5:1", "1.2.3.4, 198.51.100.7")
	f.Add("[::1]:80", "[2a00::1]:443, ::ffff:1.2.3.4")
	f.Add("127.0.0.1:1", ",,, ")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		// Without trusted proxies the peer's text is taken without
		// parsing it when it cannot be IPv4-mapped: the same text.
		if text, _, _ := peerAddr(remote); ClientIP(r, nil) != text || forwardedFor(r, nil) != text {
			t.Fatalf("without trusted proxies ClientIP(%q) = %q, forwardedFor = %q, want the peer %q", remote, ClientIP(r, nil), forwardedFor(r, nil), text)
		}
		got := ClientIP(r, trusted)
		peer, addr, ok := peerAddr(remote)
		if !ok || !isTrusted(addr, trusted) {
			if got != peer {
				t.Fatalf("ClientIP(%q, %q) = %q, want the untrusted peer %q", remote, xff, got, peer)
			}
			return
		}
		if got != peer {
			if _, err := netip.ParseAddr(got); err != nil {
				t.Fatalf("ClientIP(%q, %q) = %q, not an address", remote, xff, got)
			}
		}
		out := forwardedFor(r, trusted)
		if !strings.HasSuffix(out, peer) {
			t.Fatalf("forwardedFor(%q, %q) = %q, does not end with the peer", remote, xff, out)
		}
	})
}

func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "1.2.3.4/0", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseTrusted([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseTrusted(%q) = %v, want valid masked prefixes", s, ps)
			}
		}
	})
}

func TestTrustedPeer(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrusted([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote  string
		trusted []string
		want    bool
	}{
		{"10.1.2.3:40000", []string{"10.0.0.0/8"}, true},
		{"[::1]:5", []string{"::1"}, true},
		{"[::ffff:10.1.2.3]:5", []string{"10.0.0.0/8"}, true},
		{"203.0.113.9:5", []string{"10.0.0.0/8"}, false},
		{"garbage", []string{"10.0.0.0/8"}, false},
		{"10.1.2.3:40000", nil, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		list := trusted
		if tt.trusted == nil {
			list = nil
		}
		if got := TrustedPeer(r, list); got != tt.want {
			t.Errorf("TrustedPeer(%q, %v) = %v, want %v", tt.remote, tt.trusted, got, tt.want)
		}
	}
}
