package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A configuration may be several files: a directory of them, or a main
// file whose include globs name more. Each file is decoded on its own, so
// its problems name it and its lines; then the files are merged:
//
//   - the lists of named things (routes, consumers, auth.jwt,
//     auth.external) are concatenated in file order;
//   - the maps of names (upstreams, plans) are joined, and a name given in
//     two files is an error naming both;
//   - version may be given in several files, all with the same value;
//   - any other section (server, admin, storage, counters, versioning,
//     usage, telemetry, auth.api_key, auth.mtls) may be set in one file
//     only.
//
// Key paths in problems are those of the file the key is in: the first
// route of b.yaml is b.yaml's routes[0].

// mergedLists and mergedMaps are the sections that merge.
var (
	mergedLists = []string{"routes", "consumers", "auth.jwt", "auth.external"}
	mergedMaps  = []string{"upstreams", "plans"}
)

// span says which file a run of a merged list's elements came from.
type span struct {
	list  string // "routes", "auth.jwt"
	start int    // index in the merged list of the file's first element
	n     int
	file  string
}

// part is one file of a configuration, parsed.
type part struct {
	file string
	root *yaml.Node
}

// Load reads the configuration at path and parses it as Parse does. path
// is a file, with the files its include globs name, or a directory, whose
// *.yaml and *.yml files (not those whose name starts with a dot, such as
// a Kubernetes ConfigMap's ..data) are read in name order. Several files
// are merged: lists of named things (routes, consumers, auth.jwt,
// auth.external) are concatenated, maps of names (upstreams, plans) are
// joined, and every other section may be set in one file only.
func Load(path string) (*Config, error) {
	return load(path, os.LookupEnv)
}

func load(path string, lookup func(string) (string, bool)) (*Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		return loadFile(data, path, lookup)
	}
	files, err := dirFiles(path)
	if err != nil {
		return nil, fmt.Errorf("reading config directory: %w", err)
	}
	if len(files) == 0 {
		return nil, Problems{{File: path, Message: "no *.yaml or *.yml file in the config directory"}}
	}
	parts, ps := readParts(files)
	if len(ps) > 0 {
		ps.Sort()
		return nil, ps
	}
	if len(parts) == 0 {
		return nil, Problems{{File: path, Message: "every *.yaml and *.yml file in the config directory is empty"}}
	}
	return build(parts, path, path, true, lookup)
}

// Sources lists the files the configuration at path consists of, and the
// directories where files may appear that would join it (a config
// directory, the directory of an include glob), for a watcher. It lists
// what it can when a file does not parse.
func Sources(path string) (files, dirs []string) {
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		files, _ = dirFiles(path)
		return files, []string{path}
	}
	files, dirs = []string{path}, []string{filepath.Dir(path)}
	data, err := os.ReadFile(path)
	if err != nil {
		return files, dirs
	}
	root, err := parseNode(data, path)
	if err != nil {
		return files, dirs
	}
	inc, _ := includes(root, path)
	for _, pat := range includePatterns(root, path) {
		if d := filepath.Dir(pat); !strings.ContainsAny(d, "*?[\\") && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return append(files, inc...), dirs
}

// dirFiles lists the *.yaml and *.yml regular files (or links to them)
// of dir in name order, leaving out names that start with a dot.
func dirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// readParts reads and parses files, reporting the problems of all.
func readParts(files []string) ([]part, Problems) {
	var parts []part
	var ps Problems
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			ps = append(ps, Problem{File: f, Message: fmt.Sprintf("reading config: %v", err)})
			continue
		}
		if blank(data) {
			// A file with nothing but comments (a team's file emptied
			// for now) adds nothing.
			continue
		}
		root, err := parseNode(data, f)
		if p, ok := err.(Problems); ok {
			ps = append(ps, p...)
			continue
		}
		parts = append(parts, part{file: f, root: root})
	}
	return parts, ps
}

// blank reports whether data is one YAML document with no content: empty,
// or comments only.
func blank(data []byte) bool {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return false
	}
	return n.Kind == 0 || len(n.Content) == 1 && isNull(n.Content[0])
}

// includeNode returns the value of root's include key, or nil.
func includeNode(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "include" {
			v := root.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if v.Kind == yaml.SequenceNode {
				return v
			}
		}
	}
	return nil
}

// includePatterns returns root's include globs, relative to the
// directory of file.
func includePatterns(root *yaml.Node, file string) []string {
	n := includeNode(root)
	if n == nil {
		return nil
	}
	var out []string
	for _, e := range n.Content {
		if e.Kind == yaml.ScalarNode && e.Value != "" {
			p := e.Value
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(file), p)
			}
			out = append(out, p)
		}
	}
	return out
}

// includes expands root's include globs: the files they match, in order,
// each once, without file itself.
func includes(root *yaml.Node, file string) ([]string, Problems) {
	n := includeNode(root)
	if n == nil {
		return nil, nil
	}
	self, _ := filepath.Abs(file)
	seen := map[string]bool{self: true}
	var out []string
	var ps Problems
	pats := includePatterns(root, file)
	for i, pat := range pats {
		line := n.Content[i].Line
		at := index("include", i)
		matches, err := filepath.Glob(pat)
		if err != nil {
			ps = append(ps, Problem{File: file, Line: line, Path: at, Message: fmt.Sprintf("bad glob %q: %v", n.Content[i].Value, err)})
			continue
		}
		if len(matches) == 0 && !strings.ContainsAny(n.Content[i].Value, "*?[") {
			ps = append(ps, Problem{File: file, Line: line, Path: at, Message: fmt.Sprintf("no such file %q", pat)})
			continue
		}
		for _, m := range matches {
			abs, _ := filepath.Abs(m)
			if fi, err := os.Stat(m); seen[abs] || err != nil || !fi.Mode().IsRegular() {
				continue
			}
			seen[abs] = true
			out = append(out, m)
		}
	}
	return out, ps
}

// origin is where a key was set.
type origin struct {
	file string
	line int
	val  string
}

// merger joins the parts of a configuration (see the rules above).
type merger struct {
	root     *yaml.Node
	set      map[string]origin // sections and map names already set
	lines    map[string]int
	files    map[string]string
	spans    []span
	problems Problems
	// inDir is true for a config directory, where include is not read.
	inDir bool
}

func (m *merger) merge(parts []part, decs []*decoder) *yaml.Node {
	m.root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.set = map[string]origin{}
	m.lines, m.files = map[string]int{}, map[string]string{}
	for i, p := range parts {
		offsets := map[string]int{}
		skip := map[string]bool{}
		m.pairs(p, i, "", p.root, m.root, offsets, skip)
		for path, line := range decs[i].lines {
			if skipped(path, skip) {
				continue
			}
			np := shift(path, offsets)
			m.lines[np], m.files[np] = line, p.file
		}
	}
	return m.root
}

// pairs merges the key/value pairs of mapping src, at path prefix, into
// mapping dst.
func (m *merger) pairs(p part, i int, prefix string, src, dst *yaml.Node, offsets map[string]int, skip map[string]bool) {
	for j := 0; j+1 < len(src.Content); j += 2 {
		k, v := src.Content[j], src.Content[j+1]
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode || isNull(v) {
			continue
		}
		path := join(prefix, k.Value)
		here := origin{file: p.file, line: k.Line, val: v.Value}
		switch {
		case path == "include" && (m.inDir || i > 0):
			where := "an included file"
			if m.inDir {
				where = "a config directory, whose every file is read"
			}
			m.problems = append(m.problems, Problem{File: p.file, Line: k.Line, Path: path, Message: "include is read only in the main file, not in " + where})
			skip[path] = true
		case slices.Contains(mergedLists, path) && v.Kind == yaml.SequenceNode:
			to := child(dst, k, yaml.SequenceNode)
			offsets[path] = len(to.Content)
			m.spans = append(m.spans, span{list: path, start: len(to.Content), n: len(v.Content), file: p.file})
			to.Content = append(to.Content, v.Content...)
		case slices.Contains(mergedMaps, path) && v.Kind == yaml.MappingNode:
			to := child(dst, k, yaml.MappingNode)
			for n := 0; n+1 < len(v.Content); n += 2 {
				name := v.Content[n]
				np := join(path, name.Value)
				if name.Tag == "!!merge" {
					// A << merge of an anchor's names: yaml merges it
					// when the joined mapping is decoded.
					to.Content = append(to.Content, name, v.Content[n+1])
					continue
				}
				if prev, dup := m.set[np]; dup {
					if prev.file != p.file {
						m.problems = append(m.problems, Problem{File: p.file, Line: name.Line, Path: np,
							Message: fmt.Sprintf("%q is defined in both %s:%d and %s:%d: give each name once", name.Value, prev.file, prev.line, p.file, name.Line)})
					}
					skip[np] = true
					continue
				}
				m.set[np] = origin{file: p.file, line: name.Line}
				to.Content = append(to.Content, name, v.Content[n+1])
			}
		case path == "auth" && v.Kind == yaml.MappingNode:
			m.pairs(p, i, path, v, child(dst, k, yaml.MappingNode), offsets, skip)
		case path == "version":
			if prev, ok := m.set[path]; ok {
				if prev.val != v.Value {
					m.problems = append(m.problems, Problem{File: p.file, Line: k.Line, Path: path,
						Message: fmt.Sprintf("version %s, but %s:%d says version %s: the files of a configuration must agree", v.Value, prev.file, prev.line, prev.val)})
				}
				continue
			}
			m.set[path] = here
			dst.Content = append(dst.Content, k, v)
		default:
			if prev, ok := m.set[path]; ok {
				if prev.file != p.file {
					m.problems = append(m.problems, Problem{File: p.file, Line: k.Line, Path: path,
						Message: fmt.Sprintf("%s is set in both %s:%d and %s:%d: only routes, consumers, upstreams, plans, auth.jwt and auth.external merge across files; set %s in one file", path, prev.file, prev.line, p.file, k.Line, path)})
				}
				skip[path] = true
				continue
			}
			m.set[path] = here
			dst.Content = append(dst.Content, k, v)
		}
	}
}

// child returns the value of key k in mapping dst, adding an empty node
// of kind when there is none.
func child(dst, k *yaml.Node, kind yaml.Kind) *yaml.Node {
	for i := 0; i+1 < len(dst.Content); i += 2 {
		if dst.Content[i].Value == k.Value {
			return dst.Content[i+1]
		}
	}
	tag := "!!map"
	if kind == yaml.SequenceNode {
		tag = "!!seq"
	}
	v := &yaml.Node{Kind: kind, Tag: tag, Line: k.Line, Column: k.Column}
	dst.Content = append(dst.Content, k, v)
	return v
}

func skipped(path string, skip map[string]bool) bool {
	for p := path; p != ""; p = parentPath(p) {
		if skip[p] {
			return true
		}
	}
	return false
}

// shift moves the list indices of a file's key path by the offsets its
// lists got in the merged lists.
func shift(path string, offsets map[string]int) string {
	for list, off := range offsets {
		rest, ok := strings.CutPrefix(path, list+"[")
		if !ok || off == 0 {
			continue
		}
		i := strings.IndexByte(rest, ']')
		n, err := strconv.Atoi(rest[:max(i, 0)])
		if i < 0 || err != nil {
			continue
		}
		return index(list, n+off) + rest[i+1:]
	}
	return path
}

// FileOf returns the file that set the key at path (or its nearest
// parent): c.File unless the configuration has several files.
func (c *Config) FileOf(path string) string {
	for p := path; p != ""; p = parentPath(p) {
		if f, ok := c.Files[p]; ok {
			return f
		}
	}
	return c.File
}

// LocalPath returns path as the file it is in reads it: in a merged list,
// the index within that file's part of the list.
func (c *Config) LocalPath(path string) string {
	for _, s := range c.spans {
		rest, ok := strings.CutPrefix(path, s.list+"[")
		if !ok {
			continue
		}
		i := strings.IndexByte(rest, ']')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < s.start || n >= s.start+s.n {
			continue
		}
		return index(s.list, n-s.start) + rest[i+1:]
	}
	return path
}

// where names the key at path for a message about another key: the path,
// and with several files, its file and line.
func (c *Config) where(path string) string {
	if c.Files == nil {
		return path
	}
	return fmt.Sprintf("%s at %s:%d", c.LocalPath(path), c.FileOf(path), c.Line(path))
}

// dirOf returns the directory relative paths at path are resolved
// against: that of the file that set it, else the base directory.
func (c *Config) dirOf(path string) string {
	for p := path; p != ""; p = parentPath(p) {
		if f, ok := c.Files[p]; ok {
			return filepath.Dir(f)
		}
	}
	return c.baseDir
}
