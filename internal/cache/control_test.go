package cache

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want Directives
	}{
		{"empty", nil, Directives{}},
		{"max-age", []string{"max-age=60"}, Directives{MaxAge: time.Minute, HasMaxAge: true}},
		{"case and spaces", []string{" Public , MAX-AGE = 30 "}, Directives{Public: true, MaxAge: 30 * time.Second, HasMaxAge: true}},
		{"s-maxage and max-age", []string{"max-age=10, s-maxage=20"}, Directives{MaxAge: 10 * time.Second, HasMaxAge: true, SMaxAge: 20 * time.Second, HasSMaxAge: true}},
		{"quoted value", []string{`max-age="15"`}, Directives{MaxAge: 15 * time.Second, HasMaxAge: true}},
		{"invalid value is stale", []string{"max-age=abc"}, Directives{HasMaxAge: true}},
		{"negative is stale", []string{"max-age=-1"}, Directives{HasMaxAge: true}},
		{"conflicting duplicates are stale", []string{"max-age=10", "max-age=20"}, Directives{HasMaxAge: true}},
		{"equal duplicates", []string{"max-age=10, max-age=10"}, Directives{MaxAge: 10 * time.Second, HasMaxAge: true}},
		{"huge is capped", []string{"max-age=99999999999999999999"}, Directives{MaxAge: maxDelta * time.Second, HasMaxAge: true}},
		{"no-store private no-cache", []string{"no-store", "private, no-cache"}, Directives{NoStore: true, Private: true, NoCache: true}},
		{"qualified private", []string{`private="Set-Cookie, X-Token", max-age=5`}, Directives{Private: true, MaxAge: 5 * time.Second, HasMaxAge: true}},
		{"quoted comma does not split", []string{`no-cache="a,b", must-revalidate`}, Directives{NoCache: true, MustRevalidate: true}},
		{"revalidate flags", []string{"proxy-revalidate,must-revalidate"}, Directives{ProxyRevalidate: true, MustRevalidate: true}},
		{"stale-while-revalidate", []string{"max-age=1, stale-while-revalidate=30"}, Directives{MaxAge: time.Second, HasMaxAge: true, StaleWhileRevalidate: 30 * time.Second, HasSWR: true}},
		{"unknown extension", []string{`community="UCI", max-age=3`}, Directives{MaxAge: 3 * time.Second, HasMaxAge: true}},
		{"empty members", []string{",,, ,max-age=2,,"}, Directives{MaxAge: 2 * time.Second, HasMaxAge: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, ParseCacheControl(tt.in)); diff != "" {
				t.Errorf("ParseCacheControl(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `private="a,b", s-maxage=3`, `no-cache="\"x`, "max-age=", "=,=", "s-maxage=1, max-age=2, stale-while-revalidate=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseCacheControl([]string{s})
		if d.MaxAge < 0 || d.SMaxAge < 0 || d.StaleWhileRevalidate < 0 {
			t.Fatalf("ParseCacheControl(%q) = %+v: a negative age", s, d)
		}
		if d.MaxAge > maxDelta*time.Second || d.SMaxAge > maxDelta*time.Second {
			t.Fatalf("ParseCacheControl(%q) = %+v: over the cap", s, d)
		}
		if (d.MaxAge != 0 && !d.HasMaxAge) || (d.SMaxAge != 0 && !d.HasSMaxAge) {
			t.Fatalf("ParseCacheControl(%q) = %+v: a value without its flag", s, d)
		}
	})
}
