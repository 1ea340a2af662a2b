package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsYAMLBlocks keeps every YAML example in README.md and docs/*.md
// in step with the decoder. The convention, for whoever writes docs:
//
//   - A block fenced as ```yaml (or ```yml) whose first line is
//     "version: 1" is a whole configuration: it must pass Parse exactly
//     as `gantry validate` would (every ${VAR} is taken as set), so it
//     must define every upstream, plan and provider it names.
//   - Any other ```yaml block is a fragment: it must be one valid YAML
//     document, and its keys must sit somewhere in the configuration: there
//     must be one place in the config tree (the top level, a section, a
//     route, an upstream, a list entry...) where every key of the fragment,
//     at every depth, is a key the decoder accepts there. A fragment may
//     be indented as it would be in the file.
//   - YAML of another program (an OpenMeter meter, a Kubernetes manifest)
//     is fenced with a second word naming it, ```yaml openmeter: it must
//     be valid YAML, and nothing more is asked of it.
//   - Text that is deliberately not valid (an error message, a wrong
//     example) goes in a block fenced as ```text or with no language.
func TestDocsYAMLBlocks(t *testing.T) {
	t.Parallel()
	files := []string{filepath.Join("..", "..", "README.md")}
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)
	env := func(string) (string, bool) { return "doc-example-value-0123456789abcdef", true }
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range yamlBlocks(string(b)) {
			total++
			where := fmt.Sprintf("%s:%d", filepath.ToSlash(strings.TrimPrefix(f, filepath.Join("..", "..")+string(filepath.Separator))), blk.line)
			if blk.foreign {
				var v any
				if err := yaml.Unmarshal([]byte(blk.text), &v); err != nil {
					t.Errorf("%s: not valid YAML: %v", where, err)
				}
				continue
			}
			if strings.HasPrefix(blk.text, "version: 1\n") {
				if _, err := parse([]byte(blk.text), "", env); err != nil {
					t.Errorf("%s: this whole configuration does not validate (lines count from the block):\n%v", where, err)
				}
				continue
			}
			if err := checkFragment(blk.text); err != nil {
				t.Errorf("%s: fragment: %v", where, err)
			}
		}
	}
	if total == 0 {
		t.Fatal("no yaml block found in README.md and docs/*.md")
	}
}

type yamlBlock struct {
	line    int // line of the opening fence
	text    string
	foreign bool // fenced "```yaml OTHER": another program's YAML
}

// yamlBlocks returns every ```yaml or ```yml block of doc.
func yamlBlocks(doc string) []yamlBlock {
	var out []yamlBlock
	var cur *yamlBlock
	n := 0
	for line := range strings.Lines(doc) {
		n++
		trimmed := strings.TrimSpace(line)
		fields := strings.Fields(strings.TrimPrefix(trimmed, "```"))
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```") && len(fields) > 0 && (fields[0] == "yaml" || fields[0] == "yml"):
			cur = &yamlBlock{line: n, foreign: len(fields) > 1}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	return out
}

// checkFragment reports whether text is one YAML document whose keys fit
// some place of the configuration tree.
func checkFragment(text string) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("not valid YAML: %v", err)
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return fmt.Errorf("more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var firstErr error
	for _, typ := range mountPoints() {
		err := fits(root, typ, "")
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err // as read from the top level
		}
	}
	return fmt.Errorf("its keys fit no place of the configuration; read as top level: %v", firstErr)
}

// mountPoints lists every struct type of the configuration, the top
// level first, and every list of structs: the places a fragment may sit.
func mountPoints() []reflect.Type {
	var out []reflect.Type
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		t = deref(t)
		if seen[t] || isScalar(t) {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Struct:
			out = append(out, t)
			si := fieldsOf(t)
			for _, name := range si.names {
				walk(si.byName[name])
			}
		case reflect.Map:
			out = append(out, t)
			walk(t.Elem())
		case reflect.Slice:
			out = append(out, t)
			walk(t.Elem())
		}
	}
	walk(reflect.TypeFor[Config]())
	return out
}

// fits reports the first key of n that the decoder would not accept for
// a value of type t. Scalars are not type-checked here.
func fits(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t = deref(t)
	if isScalar(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: want a mapping", orTop(path))
		}
		si := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if k == "<<" {
				continue
			}
			ft, ok := si.byName[k]
			if !ok {
				return fmt.Errorf("%s: unknown key %q (line %d)", orTop(path), k, n.Content[i].Line)
			}
			if err := fits(n.Content[i+1], ft, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: want a mapping", orTop(path))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := fits(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: want a list", orTop(path))
		}
		for i, c := range n.Content {
			if err := fits(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func TestCheckFragment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want string // "" means it fits
	}{
		{name: "top-level section", text: "upstreams:\n  users:\n    targets:\n      - url: http://a\n"},
		{name: "inside a route, indented", text: "    match: {path: \"/users/{id}\", methods: [GET]}\n    upstream: users\n"},
		{name: "a list of routes", text: "- name: a\n  match: {path_prefix: /}\n  upstream: a\n"},
		{name: "inside an upstream", text: "health_check: {path: /healthz, interval: 5s}\nretries: 2\n"},
		{name: "unknown key", text: "upstreams:\n  users:\n    targetz: []\n", want: `unknown key "targetz"`},
		{name: "keys of two places mixed", text: "listen: \":8080\"\nupstream: users\n", want: "fit no place"},
		{name: "unquoted braces in a flow mapping", text: "match: {path: /users/{id}}\n", want: "not valid YAML"},
		{name: "two documents", text: "a: 1\n---\nb: 2\n", want: "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkFragment(tt.text)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkFragment = %v, want it to fit", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkFragment = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestYAMLBlocks(t *testing.T) {
	t.Parallel()
	doc := "text\n```yaml\nversion: 1\n```\n```yml\n  a: 1\n```\n```yaml openmeter\nmeters: []\n```\n```json\n{}\n```\n```\nx: {\n```\n"
	want := []yamlBlock{
		{line: 2, text: "version: 1\n"},
		{line: 5, text: "  a: 1\n"},
		{line: 8, text: "meters: []\n", foreign: true},
	}
	got := yamlBlocks(doc)
	if len(got) != len(want) {
		t.Fatalf("yamlBlocks() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
