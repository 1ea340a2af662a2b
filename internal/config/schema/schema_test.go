package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/config/schema"
)

var update = flag.Bool("update", false, "rewrite gantry.schema.json from the config types")

// root is the repository root, relative to this package.
var root = filepath.Join("..", "..", "..")

// TestCommittedSchemaIsCurrent fails when gantry.schema.json is not what
// the config types and the reference generate now; go test -update
// rewrites it.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	got, err := schema.Generate()
	if err != nil {
		t.Fatalf("Generate() error: %v", err)
	}
	file := filepath.Join(root, "gantry.schema.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the committed schema: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("gantry.schema.json is stale: run go test ./internal/config/schema -run TestCommittedSchemaIsCurrent -update (or gantry schema > gantry.schema.json)")
	}
}

// compile compiles the generated schema with an independent validator.
func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := schema.Generate()
	if err != nil {
		t.Fatalf("Generate() error: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("gantry.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("gantry.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// instance turns YAML into the JSON value the schema describes.
func instance(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

type sample struct {
	where string
	data  []byte
}

// samples returns every example file and every whole configuration (a
// ```yaml block whose first line is "version: 1") in docs/*.md and
// README.md.
func samples(t *testing.T) []sample {
	t.Helper()
	var out []sample
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sample{filepath.ToSlash(f[len(root)+1:]), b})
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	for _, f := range docs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range wholeConfigs(string(b)) {
			out = append(out, sample{fmt.Sprintf("%s:%d", filepath.ToSlash(f[len(root)+1:]), blk.line), []byte(blk.text)})
		}
	}
	return out
}

type block struct {
	line int
	text string
}

func wholeConfigs(doc string) []block {
	var out []block
	var cur *block
	n := 0
	for line := range strings.Lines(doc) {
		n++
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && (trimmed == "```yaml" || trimmed == "```yml"):
			cur = &block{line: n}
		case cur != nil && trimmed == "```":
			if strings.HasPrefix(cur.text, "version: 1\n") {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	return out
}

// TestSamplesValidate validates every example and whole configuration of
// the docs against the schema.
func TestSamplesValidate(t *testing.T) {
	s := compile(t)
	n := 0
	for _, smp := range samples(t) {
		n++
		v, err := instance(smp.data)
		if err != nil {
			t.Errorf("%s: %v", smp.where, err)
			continue
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s does not validate against the schema:\n%v", smp.where, err)
		}
	}
	if n < 3 {
		t.Errorf("validated %d samples, want the examples and the docs' whole configurations", n)
	}
}

// TestExamplesNameTheSchema checks the yaml-language-server modeline of
// every example file.
func TestExamplesNameTheSchema(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := "# yaml-language-server: $schema=../gantry.schema.json\n"
		if !bytes.HasPrefix(b, []byte(want)) {
			t.Errorf("%s does not start with %q", f, want)
		}
	}
}

// misspell swaps two letters of key, or doubles its last one when it is
// short: a typo the decoder refuses when key is a struct field.
func misspell(key string) string {
	if len(key) < 4 {
		return key + key[len(key)-1:]
	}
	b := []byte(key)
	i := len(b) / 2
	if b[i] == b[i-1] {
		return key + "s"
	}
	b[i-1], b[i] = b[i], b[i-1]
	return string(b)
}

// TestMisspeltKeys misspells every key of every sample in turn: the schema
// must refuse the result exactly when config.Parse reports an unknown key
// (keys that are names, like a plan's, may change freely).
func TestMisspeltKeys(t *testing.T) {
	s := compile(t)
	for _, smp := range samples(t) {
		var doc yaml.Node
		if err := yaml.Unmarshal(smp.data, &doc); err != nil {
			t.Fatalf("%s: %v", smp.where, err)
		}
		var keys []*yaml.Node
		var collect func(n *yaml.Node)
		collect = func(n *yaml.Node) {
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Tag != "!!merge" {
						keys = append(keys, n.Content[i])
					}
				}
			}
			for _, c := range n.Content {
				collect(c)
			}
		}
		collect(&doc)
		refused := 0
		for _, k := range keys {
			orig := k.Value
			k.Value = misspell(orig)
			data, err := yaml.Marshal(&doc)
			k.Value = orig
			if err != nil {
				t.Fatal(err)
			}
			_, perr := config.Parse(data, "")
			unknown := false
			var ps config.Problems
			if errors.As(perr, &ps) {
				for _, p := range ps {
					unknown = unknown || strings.HasPrefix(p.Message, "unknown key")
				}
			}
			v, err := instance(data)
			if err != nil {
				t.Fatal(err)
			}
			serr := s.Validate(v)
			if unknown != (serr != nil) {
				t.Errorf("%s line %d: %q misspelt as %q: config.Parse reports an unknown key: %v; the schema refuses it: %v", smp.where, k.Line, orig, misspell(orig), unknown, serr)
			}
			if unknown {
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("%s: no misspelt key was refused", smp.where)
		}
	}
}

// nest builds the YAML mapping that sets the key path (in the reference's
// notation) to v, and the concrete path config.Parse reports for it.
func nest(path string, v any) (map[string]any, string) {
	parts := strings.Split(path, ".")
	var concrete []string
	for _, p := range parts {
		name, list := strings.CutSuffix(p, "[]")
		if name == "<name>" {
			name = "example"
		}
		if list {
			name += "[0]"
		}
		concrete = append(concrete, name)
	}
	val := v
	for i := len(parts) - 1; i > 0; i-- {
		name, list := strings.CutSuffix(parts[i], "[]")
		if list {
			val = []any{val}
		}
		if name == "<name>" {
			name = "example"
		}
		val = map[string]any{name: val}
	}
	first, list := strings.CutSuffix(parts[0], "[]")
	if list {
		val = []any{val}
	}
	return map[string]any{"version": 1, first: val}, strings.Join(concrete, ".")
}

// TestEnumsMatchParse checks every enumerated value against config.Parse:
// each is accepted at its key, and a value outside the list is refused
// there.
func TestEnumsMatchParse(t *testing.T) {
	problemsAt := func(doc map[string]any, path string) []string {
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Parse(b, "")
		var ps config.Problems
		errors.As(err, &ps)
		var out []string
		for _, p := range ps {
			if p.Path == path {
				out = append(out, p.Message)
			}
		}
		return out
	}
	for path, values := range schema.Enums {
		t.Run(path, func(t *testing.T) {
			for _, v := range values {
				doc, at := nest(path, v)
				if ps := problemsAt(doc, at); len(ps) > 0 {
					t.Errorf("config.Parse refuses %v at %s: %v", v, at, ps)
				}
			}
			doc, at := nest(path, "not-a-listed-value")
			if ps := problemsAt(doc, at); len(ps) == 0 {
				t.Errorf("config.Parse accepts a value outside %v at %s: the enum is incomplete", values, at)
			}
		})
	}
}

// TestDefaultsFitTheirKeys validates every default the schema gives
// (taken from the reference) against the schema of its own key.
func TestDefaultsFitTheirKeys(t *testing.T) {
	b, err := schema.Generate()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gantry.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if d, ok := m["default"]; ok && !strings.Contains(ptr, "/$defs/") {
			n++
			s, err := c.Compile("gantry.schema.json#" + ptr)
			if err != nil {
				t.Fatalf("compiling %s: %v", ptr, err)
			}
			if err := s.Validate(d); err != nil {
				t.Errorf("default %v at %s does not fit its key: %v", d, ptr, err)
			}
		}
		for _, k := range []string{"properties", "additionalProperties", "items"} {
			switch sub := m[k].(type) {
			case map[string]any:
				if k == "properties" {
					for name, p := range sub {
						walk(p, ptr+"/properties/"+name)
					}
				} else {
					walk(sub, ptr+"/"+k)
				}
			}
		}
	}
	walk(doc, "")
	if n < 20 {
		t.Errorf("checked %d defaults, want the reference's (at least 20)", n)
	}
}
