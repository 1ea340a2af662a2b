package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Parse decodes one YAML document strictly, replaces ${NAME} with the
// environment variable NAME ($${ is a literal ${), applies defaults and
// validates. file names the source in problems; it may be "".
//
// The error is Problems listing everything found, each with its key path and
// line, except for a YAML syntax error, which stops at the first one.
//
// A document with include globs is refused: only Load reads the files
// they name.
func Parse(data []byte, file string) (*Config, error) {
	return parse(data, file, os.LookupEnv)
}

// visitBudget bounds the decoder's walk to a multiple of the document's
// size, so that aliases that expand exponentially ("billion laughs") fail
// fast instead of exhausting memory; ordinary reuse of anchors stays well
// within it.
func visitBudget(root *yaml.Node) int {
	n := 0
	var count func(*yaml.Node)
	count = func(x *yaml.Node) {
		n++
		for _, c := range x.Content {
			count(c)
		}
	}
	count(root)
	return min(10*n+10_000, 1<<22)
}

func parse(data []byte, file string, lookup func(string) (string, bool)) (*Config, error) {
	root, err := parseNode(data, file)
	if err != nil {
		return nil, err
	}
	if n := includeNode(root); n != nil && len(n.Content) > 0 {
		return nil, Problems{{File: file, Line: n.Line, Path: "include", Message: "include is read only when the configuration is loaded from a file (gantry run -c FILE)"}}
	}
	base := ""
	if file != "" {
		base = filepath.Dir(file)
	}
	return build([]part{{file: file, root: root}}, file, base, false, lookup)
}

// loadFile parses the config file at path with the files its include
// globs name.
func loadFile(data []byte, path string, lookup func(string) (string, bool)) (*Config, error) {
	root, err := parseNode(data, path)
	if err != nil {
		return nil, err
	}
	inc, ps := includes(root, path)
	more, ps2 := readParts(inc)
	if ps = append(ps, ps2...); len(ps) > 0 {
		ps.Sort()
		return nil, ps
	}
	return build(append([]part{{file: path, root: root}}, more...), path, filepath.Dir(path), false, lookup)
}

// build decodes the parts of a configuration, each on its own, merges
// them (see merge.go), applies defaults and validates. name is the path
// the configuration was loaded from; baseDir is what relative paths
// resolve against when the file of a key is not known ("" resolves
// nothing); inDir says the parts are a config directory.
func build(parts []part, name, baseDir string, inDir bool, lookup func(string) (string, bool)) (*Config, error) {
	var ps Problems
	decs := make([]*decoder, len(parts))
	strs := &interner{} // one for all the parts: a value repeated across files is stored once
	for i, p := range parts {
		d := &decoder{
			strs:   strs,
			file:   p.file,
			lookup: lookup,
			lines:  make(map[string]int),
			done:   make(map[*yaml.Node]bool),
			visits: visitBudget(p.root),
		}
		d.walk(p.root, reflect.TypeFor[Config](), "")
		if d.visits < 0 {
			return nil, d.problems
		}
		decs[i] = d
		ps = append(ps, d.problems...)
	}
	cfg := &Config{File: name, baseDir: baseDir}
	root := parts[0].root
	cfg.Lines = decs[0].lines
	if len(parts) > 1 || inDir {
		m := &merger{inDir: inDir}
		root = m.merge(parts, decs)
		cfg.Lines, cfg.Files, cfg.spans = m.lines, m.files, m.spans
		ps = append(ps, m.problems...)
	}
	// The walk has reported and nulled every bad value, so Decode fails
	// only on what the walk already reported (duplicate keys) or, as a
	// safety net, on what it missed.
	if err := root.Decode(cfg); err != nil && len(ps) == 0 {
		ps = append(ps, yamlProblems(err, name, cfg.Lines)...)
	}
	cfg.SetDefaults()
	// Every list of strings moves into the interner's shared blocks,
	// once the parts are merged (see intern.go).
	strs.lists(reflect.ValueOf(cfg))
	cfg.resolvePaths()

	decoded := ps
	var vps Problems
	if err := cfg.Validate(); errors.As(err, &vps) {
		for _, p := range vps {
			// A value the decoder rejected reads as zero to Validate;
			// say it once.
			if !covered(p, decoded) {
				ps = append(ps, p)
			}
		}
	}
	if len(ps) > 0 {
		ps.Sort()
		return nil, ps
	}
	return cfg, nil
}

// parseNode parses data as exactly one YAML document whose top level is a
// mapping.
func parseNode(data []byte, file string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: file, Message: "config is empty: want a YAML mapping starting with \"version: 1\""}}
		}
		return nil, tabHint(yamlProblems(err, file, nil), data)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Problems{{File: file, Line: extra.Line, Message: "a second YAML document (after ---) is not allowed: put the whole config in one document"}}
	case !errors.Is(err, io.EOF):
		return nil, tabHint(yamlProblems(err, file, nil), data)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, Problems{{File: file, Line: root.Line, Message: "config is empty: want a YAML mapping starting with \"version: 1\""}}
	}
	if root.Kind != yaml.MappingNode {
		return nil, Problems{{File: file, Line: root.Line, Message: "the top level must be a mapping of keys (version, server, upstreams, routes, ...), not a " + kindName(root)}}
	}
	return root, nil
}

// tabHint explains the YAML error a tab in the indentation causes.
func tabHint(ps Problems, data []byte) Problems {
	lines := bytes.Split(data, []byte("\n"))
	for i, p := range ps {
		if p.Line < 1 || p.Line > len(lines) {
			continue
		}
		line := lines[p.Line-1]
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.ContainsRune(indent, '\t') {
			ps[i].Message += ": indent with spaces, not tabs"
		}
	}
	return ps
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// yamlProblems turns a yaml error into problems, taking the line from its
// text and the path from lines when a key sits on that line.
func yamlProblems(err error, file string, lines map[string]int) Problems {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var ps Problems
	for _, m := range msgs {
		p := Problem{File: file, Message: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Message = sm[2]
			p.Path = pathAt(lines, p.Line)
		}
		ps = append(ps, p)
	}
	return ps
}

// pathAt returns the deepest key path on line, or "".
func pathAt(lines map[string]int, line int) string {
	best := ""
	for p, l := range lines {
		if l == line && (len(p) > len(best) || len(p) == len(best) && p < best) {
			best = p
		}
	}
	return best
}

func covered(q Problem, ps Problems) bool {
	path := q.Path
	for _, p := range ps {
		if p.File == q.File && p.Path != "" && (path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[")) {
			return true
		}
	}
	return false
}

// decoder walks a YAML node tree along the Go types it will be decoded
// into. It records the line of every key path, expands ${NAME} in scalar
// values (in place, so lines stay right), reports unknown and duplicate keys
// and values of the wrong type, and nulls bad values so that the later
// yaml Decode succeeds and Validate can report the rest.
type decoder struct {
	file     string
	lookup   func(string) (string, bool)
	lines    map[string]int
	done     map[*yaml.Node]bool // scalars already expanded (aliases share nodes)
	strs     *interner           // the string values' storage, shared by the parts
	visits   int
	problems Problems
}

func (d *decoder) add(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) walk(n *yaml.Node, t reflect.Type, path string) {
	if d.visits--; d.visits < 0 {
		if d.visits == -1 {
			d.problems = Problems{{File: d.file, Line: n.Line, Message: "document too large, or its aliases expand too much"}}
		}
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		d.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		d.walk(n, t.Elem(), path)
	case reflect.Struct:
		d.object(n, t, path)
	case reflect.Map:
		d.mapping(n, t, path)
	case reflect.Slice:
		d.sequence(n, t, path)
	default:
		d.leaf(n, t, path)
	}
}

// object checks a mapping against struct type t.
func (d *decoder) object(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.wrongKind(n, path, "a mapping (key: value)")
		return
	}
	fields := fieldsOf(t)
	seen := make(map[string]int)
	for _, kv := range d.pairs(n, path) {
		name := kv.key.Value
		p := join(path, name)
		if prev, dup := seen[name]; dup {
			if !kv.merged {
				d.add(p, kv.key.Line, "duplicate key %q (first at line %d): give each key once", name, prev)
			}
			continue
		}
		seen[name] = kv.key.Line
		f, ok := fields.byName[name]
		if !ok {
			d.add(p, kv.key.Line, "unknown key %q%s", name, hint(name, fields.names))
			continue
		}
		d.lines[p] = kv.key.Line
		d.walk(kv.val, f, p)
	}
}

// mapping checks a mapping against map type t (string keys).
func (d *decoder) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.wrongKind(n, path, "a mapping (name: value)")
		return
	}
	seen := make(map[string]int)
	for _, kv := range d.pairs(n, path) {
		name := kv.key.Value
		p := join(path, name)
		if prev, dup := seen[name]; dup {
			if !kv.merged {
				d.add(p, kv.key.Line, "duplicate key %q (first at line %d): give each name once", name, prev)
			}
			continue
		}
		seen[name] = kv.key.Line
		d.lines[p] = kv.key.Line
		d.walk(kv.val, t.Elem(), p)
	}
}

func (d *decoder) sequence(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		d.wrongKind(n, path, "a list")
		return
	}
	for i, e := range n.Content {
		p := index(path, i)
		d.lines[p] = e.Line
		d.walk(e, t.Elem(), p)
	}
}

// leaf checks a scalar value, after expanding ${NAME}, by decoding it into a
// fresh value of type t.
func (d *decoder) leaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		d.wrongKind(n, path, describe(t))
		return
	}
	if !d.expand(n, t, path) {
		nullify(n)
		return
	}
	var err error
	switch v := reflect.New(t).Interface().(type) {
	case yaml.Unmarshaler:
		err = v.UnmarshalYAML(n)
	default:
		// Any scalar reads as a string; other kinds are checked by
		// decoding the value alone.
		if t.Kind() == reflect.String {
			n.Value = d.strs.intern(n.Value)
		} else if n.Decode(v) != nil {
			err = fmt.Errorf("want %s, got %q", describe(t), n.Value)
		}
	}
	if err != nil {
		d.add(path, n.Line, "%s", err.Error())
		nullify(n)
	}
}

// expand replaces ${NAME} in n's value. A value that changed is re-read as
// plain YAML for non-string targets, so `port: ${PORT}` can be an integer,
// and kept a string for string targets, so a token "null" stays "null".
func (d *decoder) expand(n *yaml.Node, t reflect.Type, path string) bool {
	if d.done[n] {
		return true
	}
	d.done[n] = true
	if !strings.Contains(n.Value, "${") {
		return true
	}
	out, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.add(path, n.Line, "%s", err.Error())
		return false
	}
	n.Value = out
	if t.Kind() == reflect.String {
		n.Tag = "!!str"
	} else {
		n.Tag, n.Style = "", 0
	}
	return true
}

func (d *decoder) wrongKind(n *yaml.Node, path, want string) {
	d.add(path, n.Line, "want %s, got a %s", want, kindName(n))
	nullify(n)
}

type pair struct {
	key, val *yaml.Node
	merged   bool // came from a << merge key
}

// pairs lists a mapping's key/value pairs, expanding << merge keys after
// the explicit keys so that explicit keys win, as in YAML's merge rule.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, k.Line, "keys must be plain names, not a %s", kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			merged = append(merged, d.mergePairs(v, path, 0)...)
			continue
		}
		out = append(out, pair{key: k, val: v})
	}
	return append(out, merged...)
}

func (d *decoder) mergePairs(v *yaml.Node, path string, depth int) []pair {
	if depth > 32 {
		return nil
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	var out []pair
	switch v.Kind {
	case yaml.MappingNode:
		for _, p := range d.pairs(v, path) {
			p.merged = true
			out = append(out, p)
		}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			out = append(out, d.mergePairs(e, path, depth+1)...)
		}
	default:
		d.add(path, v.Line, "<< must merge a mapping or a list of mappings")
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" || n.Kind == 0
}

// nullify makes n a null scalar, so that decoding leaves the zero value.
func nullify(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "", Line: n.Line, Column: n.Column}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number (" + n.Value + ")"
		case "!!bool":
			return "boolean (" + n.Value + ")"
		case "!!null":
			return "null"
		}
		return "string (" + strconv.Quote(n.Value) + ")"
	}
	return "value"
}

// describe names what a value of type t looks like in YAML.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration like \"2s\""
	case reflect.TypeFor[Size]():
		return "a size like \"64KiB\""
	case reflect.TypeFor[Decimal]():
		return "an amount like \"49.00\""
	case reflect.TypeFor[JSONValue]():
		return "a string, number, true, false or null"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value)"
	case reflect.Pointer:
		return describe(t.Elem())
	}
	return "a " + t.String()
}

type structInfo struct {
	byName map[string]reflect.Type
	names  []string // sorted
}

var structCache sync.Map // reflect.Type -> *structInfo

// fieldsOf lists the YAML keys of struct type t.
func fieldsOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: make(map[string]reflect.Type)}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		si.byName[name] = f.Type
		si.names = append(si.names, name)
	}
	slices.Sort(si.names)
	structCache.Store(t, si)
	return si
}

// hint suggests the known key closest to an unknown one, or lists them all.
func hint(key string, known []string) string {
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return "; known keys here: " + strings.Join(known, ", ")
}

// suggest returns the known key close enough to key to be a likely typo:
// the same up to case, - or _; the only known key it starts; or within a
// small edit distance.
func suggest(key string, known []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	best, bestDist := "", min(1+len(key)/4, 3)
	var prefixed []string
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if len(key) >= 3 && strings.HasPrefix(k, key) {
			prefixed = append(prefixed, k)
		}
		if dist := editDistance(key, k); dist <= bestDist && dist < len(key) {
			if dist < bestDist || best == "" {
				best, bestDist = k, dist
			}
		}
	}
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
