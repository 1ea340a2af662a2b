package jsonvalid

import (
	"encoding/json"
	"strings"
	"testing"
)

var cases = []string{
	``, ` `, `0`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`, `-1.25e3`, `2x`,
	`true`, `false`, `null`, `tru`, `truex`, `nul`, `True`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\uD800"`, `"\u00G0"`, `"\u12"`, `"\x"`, `"a`, "\"a\x01\"", "\"\x7f\"", "\"\xff\xfe\"", "\"é😀\"",
	`[]`, `[ ]`, `[1]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `[[[]]`, `]`, `[}`,
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1,"a":2}`, `{"a":}`, `{"a":1}}`, `{"a":[1,{"b":null}],"c":"d"}`, `{"a":1 "b":2}`, `{]`,
	" \t\r\n{\"a\" : [ 1 , 2 ] }\n ", `{} {}`, `1 2`, "\x00", `{"":""}`,
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

// The nesting limit is encoding/json's: 10,000 open containers, empty
// ones counted.
func TestValidDepth(t *testing.T) {
	t.Parallel()
	for _, n := range []int{9999, 10000, 10001} {
		for _, inner := range []string{"", "1", "[]", "{}"} {
			for _, open := range []string{"[", `{"a":`} {
				closer := "]"
				if open != "[" {
					closer = "}"
				}
				s := strings.Repeat(open, n) + inner + strings.Repeat(closer, n)
				if inner == "" && open != "[" {
					continue // {"a":} is invalid anyway
				}
				if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
					t.Errorf("depth %d of %q around %q: Valid = %v, encoding/json says %v", n, open, inner, got, want)
				}
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

var answer = []byte(`{"id":"ord_7f3a9c","status":"shipped","items":[{"sku":"A-1","qty":2,"price":19.95},{"sku":"B-7","qty":1,"price":10.00}],"total":"49.90","currency":"EUR","eta":"2026-11-04","gift":false,"note":null}`)

func BenchmarkValid(b *testing.B) {
	b.Run("jsonvalid", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			if !Valid(answer) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			if !json.Valid(answer) {
				b.Fatal("invalid")
			}
		}
	})
}
