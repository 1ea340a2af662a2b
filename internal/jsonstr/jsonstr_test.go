package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
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
		{"html escaped as encoding/json does", "<a&b>", `"\u003ca\u0026b\u003e"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(Append(nil, tt.in)); got != tt.want {
				t.Errorf("Append(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzAppendJSONString checks that any input encodes to a valid JSON string
// that decodes to what encoding/json makes of the same input (invalid UTF-8
// replaced by U+FFFD), with and without query redaction.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "/users/7", "a\"b\\c\n", "\x00\x1f\x7f", "\xff\xfe", "é😀\u2028", "a\xe2\x82", "?k=v x", `"http://h/?a=b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := Append(nil, s)
		if !json.Valid(enc) {
			t.Fatalf("Append(%q) = %s: invalid JSON", s, enc)
		}
		if !utf8.Valid(enc) {
			t.Fatalf("Append(%q) = %q: invalid UTF-8", s, enc)
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
				t.Fatalf("Append(%q) has raw control byte %#x", s, c)
			}
		}
		red := append([]byte{'"'}, AppendContent(nil, s, true)...)
		red = append(red, '"')
		if !json.Valid(red) {
			t.Fatalf("redacted encoding of %q = %s: invalid JSON", s, red)
		}
	})
}

// appendContentByByte is AppendContent as it was written before the table
// skip, each byte tested in turn, and with the test for a safe byte
// written out rather than read from the table. FuzzAppendContent holds
// the two equal.
func appendContentByByte(dst []byte, s string, redactQuery bool) []byte {
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				if c == '?' && redactQuery && i+1 < len(s) && !endsQuery(s[i+1]) {
					dst = append(dst, s[start:i+1]...)
					i++
					for i < len(s) && !endsQuery(s[i]) {
						i++
					}
					start = i
					continue
				}
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// TestAppendContentEveryOffset puts each kind of byte that stops the
// eight-at-a-time skip (and one that does not) at every offset of a
// string of safe bytes longer than three words, alone and before a second
// one, and compares with the byte-by-byte reference.
func TestAppendContentEveryOffset(t *testing.T) {
	stops := []string{"\"", "\\", "<", ">", "&", "?", "\x00", "\n", "\x1f", "\x7f", "\xff", "é", "\u2028", "😀", "\xe2\x80", "? "}
	base := strings.Repeat("abcdefgh", 4)
	for _, stop := range stops {
		for i := 0; i <= len(base); i++ {
			for _, s := range []string{base[:i] + stop + base[i:], base[:i] + stop + base[i:] + stop} {
				for _, redact := range []bool{false, true} {
					if got, want := AppendContent(nil, s, redact), appendContentByByte(nil, s, redact); string(got) != string(want) {
						t.Fatalf("AppendContent(%q, %v) = %q, byte by byte %q", s, redact, got, want)
					}
				}
			}
		}
	}
}

func FuzzAppendContent(f *testing.F) {
	for _, s := range []string{"", "/users/7?api_key=s3cret x", "a\"b\\c\n", "\x00\x1f\x7f<>&", "\xff\xfe", "é😀\u2028", "?", "a?", "a? b", "??x",
		"/api/v1/orders/12345/items?page=2&size=50 x", "0123456789abcdef\x00fedcba9876543210"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, redact := range []bool{false, true} {
			if got, want := AppendContent(nil, s, redact), appendContentByByte(nil, s, redact); string(got) != string(want) {
				t.Fatalf("AppendContent(%q, %v) = %q, byte by byte %q", s, redact, got, want)
			}
		}
	})
}
