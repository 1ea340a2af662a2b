package ratelimit

import (
	"net/textproto"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in     string
		kind   keyKind
		header string
		ok     bool
	}{
		{"consumer", keyConsumer, "", true},
		{"ip", keyIP, "", true},
		{"header:x-tenant", keyHeader, "X-Tenant", true},
		{"header:X-Tenant-ID", keyHeader, "X-Tenant-Id", true},
		{"header:", 0, "", false},
		{"header:X Tenant", 0, "", false},
		{"header:X-Tenant}", 0, "", false},
		{"Header:X-Tenant", 0, "", false},
		{"cookie:session", 0, "", false},
	}
	for _, tt := range tests {
		kind, header, err := parseKey(tt.in)
		if (err == nil) != tt.ok || kind != tt.kind || header != tt.header {
			t.Errorf("parseKey(%q) = %v, %q, %v; want %v, %q, ok=%v", tt.in, kind, header, err, tt.kind, tt.header, tt.ok)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"consumer", "ip", "header:X-Tenant", "header:", "header:a}b", "header:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, header, err := parseKey(s)
		if err != nil || kind != keyHeader {
			return
		}
		// A header key names a valid, canonical header without the brace
		// that would end a Redis hash tag or a bucket name.
		if !validHeaderName(header) || header != textproto.CanonicalMIMEHeaderKey(header) || strings.ContainsAny(header, "{}") {
			t.Fatalf("parseKey(%q) gave header %q", s, header)
		}
	})
}
