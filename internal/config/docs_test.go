package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docFile is the configuration reference, relative to this package.
var docFile = filepath.Join("..", "..", "docs", "config.md")

// TestDocsCoverEveryKey fails when a key the decoder accepts has no row in
// the reference, so a new config field cannot ship undocumented.
func TestDocsCoverEveryKey(t *testing.T) {
	t.Parallel()
	rows, bad := docKeyRows(readDoc(t))
	for _, b := range bad {
		t.Errorf("%s:%d: first cell of a key table row must be one `key.path`, got %q", docFile, b.line, b.cell)
	}
	for _, k := range keyPaths(reflect.TypeFor[Config]()) {
		if _, ok := rows[k]; !ok {
			t.Errorf("%s has no table row for `%s`", docFile, k)
		}
	}
}

// TestDocsNoStaleKeys fails when the reference documents a key the decoder
// would refuse, such as a renamed or removed field.
func TestDocsNoStaleKeys(t *testing.T) {
	t.Parallel()
	rows, _ := docKeyRows(readDoc(t))
	known := map[string]bool{}
	for _, k := range keyPaths(reflect.TypeFor[Config]()) {
		known[k] = true
	}
	for k, line := range rows {
		if !known[k] {
			t.Errorf("%s:%d: row for `%s`, which is not a configuration key", docFile, line, k)
		}
	}
}

// TestDocsSectionHeadings requires a heading for every top-level section.
func TestDocsSectionHeadings(t *testing.T) {
	t.Parallel()
	doc := readDoc(t)
	headings := map[string]bool{}
	for line := range strings.Lines(doc) {
		if strings.HasPrefix(line, "#") {
			headings[strings.TrimSpace(strings.TrimLeft(line, "#"))] = true
		}
	}
	t0 := reflect.TypeFor[Config]()
	for _, name := range fieldsOf(t0).names {
		if isScalar(fieldsOf(t0).byName[name]) {
			continue
		}
		if !headings["`"+name+"`"] {
			t.Errorf("%s has no heading \"## `%s`\" for the top-level section", docFile, name)
		}
	}
}

// TestDocsExamplesParse checks that every complete example in the reference
// (a yaml block starting with "version: 1") is a valid configuration.
func TestDocsExamplesParse(t *testing.T) {
	t.Parallel()
	examples := yamlExamples(readDoc(t))
	if len(examples) == 0 {
		t.Fatalf("%s has no complete yaml example (a block starting with \"version: 1\")", docFile)
	}
	env := func(string) (string, bool) { return "doc-example-value-0123456789abcdef", true }
	for _, ex := range examples {
		if _, err := parse([]byte(ex.text), "", env); err != nil {
			t.Errorf("example at %s:%d does not parse (lines count from the example):\n%v", docFile, ex.line, err)
		}
	}
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatalf("reading the configuration reference: %v", err)
	}
	return string(b)
}

// keyPaths lists every key path the decoder accepts under struct type t, in
// the reference's notation: map entries as ".<name>", list elements as "[]"
// ("upstreams.<name>.targets[].url"). Maps and lists of scalars are leaves.
func keyPaths(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		si := fieldsOf(t)
		for _, name := range si.names {
			p := join(prefix, name)
			out = append(out, p)
			ft := deref(si.byName[name])
			switch {
			case isScalar(ft):
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case ft.Kind() == reflect.Map && deref(ft.Elem()).Kind() == reflect.Struct:
				out = append(out, p+".<name>")
				walk(deref(ft.Elem()), p+".<name>")
			case ft.Kind() == reflect.Slice && deref(ft.Elem()).Kind() == reflect.Struct:
				walk(deref(ft.Elem()), p+"[]")
			}
		}
	}
	walk(t, "")
	slices.Sort(out)
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// isScalar reports whether a value of type t is written as one YAML scalar
// (or a list or map of them) rather than a mapping of keys.
func isScalar(t reflect.Type) bool {
	t = deref(t)
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Map, reflect.Slice:
		return deref(t.Elem()).Kind() != reflect.Struct
	}
	return true
}

type badCell struct {
	line int
	cell string
}

// docKeyRows returns the key paths of the reference's key tables (tables
// whose header's first cell is "key path"), each with its line, and the
// rows whose first cell is not one backticked key path.
func docKeyRows(doc string) (rows map[string]int, bad []badCell) {
	rows = map[string]int{}
	inTable := false
	n := 0
	for line := range strings.Lines(doc) {
		n++
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		first := strings.TrimSpace(strings.SplitN(line, "|", 3)[1])
		switch {
		case first == "key path":
			inTable = true
			continue
		case !inTable || strings.Trim(first, "-: ") == "":
			continue
		}
		key, ok := strings.CutPrefix(first, "`")
		key, ok2 := strings.CutSuffix(key, "`")
		if !ok || !ok2 || key == "" || strings.ContainsAny(key, "` ") {
			bad = append(bad, badCell{n, first})
			continue
		}
		rows[key] = n
	}
	return rows, bad
}

type example struct {
	line int // line of the opening fence
	text string
}

// yamlExamples returns the yaml code blocks of doc that are whole
// configurations: their first line is "version: 1".
func yamlExamples(doc string) []example {
	var out []example
	var cur *example
	n := 0
	for line := range strings.Lines(doc) {
		n++
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```yaml":
			cur = &example{line: n}
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

func TestKeyPaths(t *testing.T) {
	t.Parallel()
	type limits struct {
		Max Size `yaml:"max"`
	}
	type target struct {
		URL string `yaml:"url"`
	}
	type pool struct {
		Targets []*target `yaml:"targets"`
		Tags    []string  `yaml:"tags"`
	}
	tests := []struct {
		name string
		typ  reflect.Type
		want []string
	}{
		{
			name: "nested struct and pointer",
			typ: reflect.TypeFor[struct {
				Listen string  `yaml:"listen"`
				Limits *limits `yaml:"limits"`
			}](),
			want: []string{"limits", "limits.max", "listen"},
		},
		{
			name: "map of structs, list of structs, list of scalars",
			typ: reflect.TypeFor[struct {
				Pools map[string]*pool `yaml:"pools"`
			}](),
			want: []string{"pools", "pools.<name>", "pools.<name>.tags", "pools.<name>.targets", "pools.<name>.targets[].url"},
		},
		{
			name: "skipped and scalar-valued fields",
			typ: reflect.TypeFor[struct {
				Headers map[string]string `yaml:"headers"`
				Wait    Duration          `yaml:"wait"`
				Lines   map[string]int    `yaml:"-"`
				hidden  int
			}](),
			want: []string{"headers", "wait"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, keyPaths(tt.typ)); diff != "" {
				t.Errorf("keyPaths() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDocKeyRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		wantRows map[string]int
		wantBad  []badCell
	}{
		{
			name: "key table rows",
			doc: "## `server`\n\n| key path | type | default | meaning |\n|---|---|---|---|\n" +
				"| `server.listen` | string | `\":8080\"` | Address. |\n| `server.tls` | mapping | none | TLS. |\n",
			wantRows: map[string]int{"server.listen": 5, "server.tls": 6},
		},
		{
			name:     "other tables are ignored",
			doc:      "| status | `error` |\n|---|---|\n| 404 | `not_found` |\n| `x` | y |\n",
			wantRows: map[string]int{},
		},
		{
			name: "a table ends at the first line that is not a row",
			doc: "| key path | type |\n|---|---|\n| `a.b` | string |\n\n" +
				"| segment | matches |\n|---|---|\n| `users` | text |\n",
			wantRows: map[string]int{"a.b": 3},
		},
		{
			name:     "malformed first cells",
			doc:      "| key path | type |\n|---|---|\n| server.listen | string |\n| `a` or `b` | string |\n",
			wantRows: map[string]int{},
			wantBad:  []badCell{{3, "server.listen"}, {4, "`a` or `b`"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, bad := docKeyRows(tt.doc)
			if diff := cmp.Diff(tt.wantRows, rows); diff != "" {
				t.Errorf("docKeyRows() rows mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBad, bad, cmp.AllowUnexported(badCell{})); diff != "" {
				t.Errorf("docKeyRows() bad cells mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestYAMLExamples(t *testing.T) {
	t.Parallel()
	doc := "text\n```yaml\nversion: 1\nroutes: []\n```\n\n```yaml\n  match: {path: \"/a\"}\n```\n```json\n{}\n```\n"
	got := yamlExamples(doc)
	want := []example{{line: 2, text: "version: 1\nroutes: []\n"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(example{})); diff != "" {
		t.Errorf("yamlExamples() mismatch (-want +got):\n%s", diff)
	}
}
