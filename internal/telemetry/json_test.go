package telemetry

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `""`},
		{"plain", "/users/7", `"/users/7"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"newline tab return", "a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"control chars", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"utf8 kept", "héllo 😀", `"héllo 😀"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence", "a\xe2\x82", `"a\ufffd\ufffd"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"html left alone", "<a&b>", `"<a&b>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendJSONString(nil, tt.in)); got != tt.want {
				t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactQuery(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"url in error", `Get "http://127.0.0.1:9101/users?api_key=s3cret&x=1": dial tcp: refused`,
			`Get \"http://127.0.0.1:9101/users?\": dial tcp: refused`},
		{"bare url", "http://h/p?token=abc more", "http://h/p? more"},
		{"query at end", "http://h/p?k=v", "http://h/p?"},
		{"question in prose", "is it down? yes", "is it down? yes"},
		{"trailing question", "down?", "down?"},
		{"no query", "upstream timeout", "upstream timeout"},
		{"escapes still apply", "bad\n\"x\"?a=b c", `bad\n\"x\"? c`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendJSONStringBody(nil, tt.in, true)); got != tt.want {
				t.Errorf("appendJSONStringBody(%q, redact) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestAppendMillis(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0.000"},
		{999 * time.Nanosecond, "0.000"},
		{time.Microsecond, "0.001"},
		{1234567 * time.Nanosecond, "1.234"},
		{50 * time.Millisecond, "50.000"},
		{2*time.Second + 5*time.Microsecond, "2000.005"},
		{-time.Second, "0.000"},
	}
	for _, tt := range tests {
		if got := string(appendMillis(nil, tt.in)); got != tt.want {
			t.Errorf("appendMillis(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é is 2 bytes: no half rune.
		{"a😀", 4, "a"},   // 😀 is 4 bytes.
		{"a😀b", 5, "a😀"}, // Cut right after the rune.
		{"\x80\x80\x80\x80\x80\x80", 3, "\x80\x80\x80"}, // Invalid input: still at most n.
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if len(got) > tt.n {
			t.Errorf("truncate(%q, %d) is %d bytes long", tt.in, tt.n, len(got))
		}
	}
}

// FuzzAppendJSONString checks that any input encodes to a valid JSON string
// that decodes to what encoding/json makes of the same input (invalid UTF-8
// replaced by U+FFFD), with and without query redaction.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "/users/7", "a\"b\\c\n", "\x00\x1f\x7f", "\xff\xfe", "é😀\u2028", "a\xe2\x82", "?k=v x", `"http://h/?a=b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendJSONString(nil, s)
		if !json.Valid(enc) {
			t.Fatalf("appendJSONString(%q) = %s: invalid JSON", s, enc)
		}
		if !utf8.Valid(enc) {
			t.Fatalf("appendJSONString(%q) = %q: invalid UTF-8", s, enc)
		}
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("decoding %s: %v", enc, err)
		}
		ref, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("round trip of %q = %q, want %q", s, got, want)
		}
		for _, c := range enc {
			if c < 0x20 {
				t.Fatalf("appendJSONString(%q) has raw control byte %#x", s, c)
			}
		}
		red := append([]byte{'"'}, appendJSONStringBody(nil, s, true)...)
		red = append(red, '"')
		if !json.Valid(red) {
			t.Fatalf("redacted encoding of %q = %s: invalid JSON", s, red)
		}
	})
}
