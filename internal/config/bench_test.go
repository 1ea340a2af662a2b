package config

import (
	"os"
	"testing"
)

// BenchmarkParse measures a reload's decode, defaults and validation of the
// contract example; it runs on SIGHUP and admin reloads, not per request.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/contract.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "value-0123456789abcdef", true }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(data, "gantry.yaml", lookup); err != nil {
			b.Fatal(err)
		}
	}
}
