package config

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, file := range []string{"testdata/contract.yaml", "testdata/mistakes.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("version: 1\nx: &a [*a]\n"))
	f.Add([]byte("a: &a {<<: *a}\n"))
	f.Add([]byte("server: {listen: '${A}${B}$${C}'}\nroutes: [~, {}]\nupstreams: {u: ~}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("\t"))
	lookup := func(name string) (string, bool) {
		if name == "A" {
			return "", false
		}
		return "value-of-" + name, true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "fuzz.yaml", lookup)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error with an empty message")
			}
			var ps Problems
			if errors.As(err, &ps) {
				if len(ps) == 0 {
					t.Fatal("empty Problems returned as an error")
				}
				for _, p := range ps {
					if p.Message == "" {
						t.Fatalf("problem without a message: %+v", p)
					}
				}
			}
			return
		}
		// A config that parsed is valid, stays valid, and can be shown.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails Validate: %v", err)
		}
		if _, err := json.Marshal(cfg.Redacted()); err != nil {
			t.Fatalf("json.Marshal(Redacted()): %v", err)
		}
	})
}

// FuzzMerge decodes two documents as the files of a config directory and
// merges them: a merged configuration that builds must validate.
func FuzzMerge(f *testing.F) {
	f.Add([]byte(mainPart), []byte(usersPart))
	f.Add([]byte(usersPart), []byte(usersPart))
	f.Add([]byte(usersPart), []byte(ordersPart))
	f.Add([]byte("version: 1\nauth: {jwt: [{name: a}]}\n"), []byte("version: 2\nauth: {jwt: ~, api_key: {}}\nroutes: {}\n"))
	f.Add([]byte("routes: &r [{name: a}]\n"), []byte("upstreams: {<<: {x: {}}}\nserver: *r\n"))
	lookup := func(name string) (string, bool) { return "value-of-" + name, true }
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var parts []part
		for i, data := range [][]byte{a, b} {
			root, err := parseNode(data, "")
			if err != nil {
				return
			}
			parts = append(parts, part{file: []string{"a.yaml", "b.yaml"}[i], root: root})
		}
		cfg, err := build(parts, "dir", "", true, lookup)
		if err != nil {
			var ps Problems
			if errors.As(err, &ps) && len(ps) == 0 {
				t.Fatal("empty Problems returned as an error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("merged config fails Validate: %v", err)
		}
	})
}
