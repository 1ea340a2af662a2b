package jsonstr

import (
	"encoding/json"
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
