package wire

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every byte value at every offset of a word and of the tail, among bytes
// that pass (letters, obs-text, tabs): the word-at-a-time check answers as
// the byte loop and as the rule.
func TestValidFieldValueEveryByte(t *testing.T) {
	t.Parallel()
	for _, fill := range []byte{'a', 0x80, 0xff, '\t', ' ', '~'} {
		for n := 0; n <= 19; n++ {
			for pos := 0; pos < n; pos++ {
				for c := 0; c < 256; c++ {
					b := []byte(strings.Repeat(string([]byte{fill}), n))
					b[pos] = byte(c)
					want := !(c < ' ' && c != '\t' || c == 0x7f)
					if got := ValidFieldValue(b); got != want {
						t.Fatalf("ValidFieldValue(%q) = %v, want %v", b, got, want)
					}
					if got := ValidFieldValue(string(b)); got != want {
						t.Fatalf("ValidFieldValue(string %q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
	if !ValidFieldValue("") {
		t.Error(`ValidFieldValue("") = false, want true`)
	}
}

// FuzzValidFieldValue holds the word-at-a-time check to the byte loop.
func FuzzValidFieldValue(f *testing.F) {
	for _, s := range []string{"", "application/json", "a\r\nX-Admin: 1", "tab\tin\tvalue ok", "\x7f", "caf\xc3\xa9 \xff\x80", "12345678\x1f", "1234567\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidFieldValue(s), validValueBytes(s); got != want {
			t.Fatalf("ValidFieldValue(%q) = %v, the byte loop says %v", s, got, want)
		}
		if got, want := ValidFieldValue([]byte(s)), validValueBytes(s); got != want {
			t.Fatalf("ValidFieldValue([]byte %q) = %v, the byte loop says %v", s, got, want)
		}
	})
}

func BenchmarkValidFieldValue(b *testing.B) {
	for _, v := range []string{"application/json", "Mon, 07 Dec 2026 17:04:54 GMT", "01JEXAMPLE7Q3W9ZK2M4N6P8R0T"} {
		b.Run(v[:8], func(b *testing.B) {
			for b.Loop() {
				if !ValidFieldValue(v) {
					b.Fatal("refused")
				}
			}
		})
		b.Run(v[:8]+"/bytes", func(b *testing.B) {
			for b.Loop() {
				if !validValueBytes(v) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TrimOWS is strings.Trim with the cutset " \t", for strings and bytes.
func TestTrimOWS(t *testing.T) {
	for _, s := range []string{"", " ", "\t", " \t ", "a", " a", "a ", "\ta\t", " a b ", "\t \ta\t b\t \t", "\r a \r", "\u00a0a\u00a0", "a\n"} {
		want := strings.Trim(s, " \t")
		if got := TrimOWS(s); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", s, got, want)
		}
		if got := string(TrimOWS([]byte(s))); got != want {
			t.Errorf("TrimOWS([]byte(%q)) = %q, want %q", s, got, want)
		}
	}
}

func FuzzTrimOWS(f *testing.F) {
	f.Add(" \tv a l\t ")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := TrimOWS(s), strings.Trim(s, " \t"); got != want {
			t.Fatalf("TrimOWS(%q) = %q, want %q", s, got, want)
		}
	})
}

// AddList joins a list's values to a map's in order, shares a new name's
// value with the list, and never writes the list.
func TestAddList(t *testing.T) {
	h := http.Header{"Vary": {"Origin"}}
	list := []string{"Vary", "Accept", "X-A", "1", "X-A", "2", "X-Dangling"}
	before := slices.Clone(list)
	AddList(h, list)
	want := http.Header{"Vary": {"Origin", "Accept"}, "X-A": {"1", "2"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("AddList made %q, want %q", h, want)
	}
	for k := range h {
		h[k] = append(h[k], "later")
	}
	if !slices.Equal(list, before) {
		t.Fatalf("list written: %q, was %q", list, before)
	}
}
