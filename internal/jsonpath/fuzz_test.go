package jsonpath

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts has at
// least one step and ends with a name, and that the operations run on any
// document shape without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a", "meta.channel", "items[].cost", "[].id", `a\.b`, "a[][].b", "a..b", "[", "]", `\`, "a.[].b"} {
		f.Add(s, `{"a":{"b":[{"c":1}]},"items":[{"cost":1}],"meta":null}`)
	}
	f.Fuzz(func(t *testing.T, s, doc string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if len(p.steps) == 0 || p.steps[len(p.steps)-1].each {
			t.Fatalf("Parse(%q) = %+v: want steps ending with a name", s, p.steps)
		}
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
		if !strings.ContainsAny(s, `\`) && len(p.steps) == 1 && p.steps[0].key != s {
			t.Fatalf("Parse(%q) key = %q", s, p.steps[0].key)
		}
		for _, d := range []string{doc, `{"a":{"b":[{"c":1}]}}`, `[{"a":[]}]`} {
			v, ok := tryDecode(d)
			if !ok {
				continue
			}
			p.Set(v, "x")
			p.Rename(v, "renamed")
			p.Remove(v)
		}
	})
}
