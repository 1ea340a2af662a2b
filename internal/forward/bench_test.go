package forward

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func BenchmarkClientIP(b *testing.B) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, remote string
	}{
		{"untrusted", "203.0.113.9:1234"},
		{"trusted", "10.0.0.5:1234"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			r.Header.Set("X-Forwarded-For", "198.51.100.7, 10.3.3.3")
			b.ReportAllocs()
			for b.Loop() {
				ClientIP(r, trusted)
			}
		})
	}
}
