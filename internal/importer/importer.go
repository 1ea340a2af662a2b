package importer

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// Note is one item of the source that was not translated, or translated
// only in part.
type Note struct {
	// Line is the item's line in the source, 0 when unknown.
	Line int
	// Message names the item and says what became of it.
	Message string
}

func (n Note) String() string {
	if n.Line > 0 {
		return fmt.Sprintf("line %d: %s", n.Line, n.Message)
	}
	return n.Message
}

// Options tune a translation.
type Options struct {
	// Targets maps a backend's name (a Kong service or upstream, a
	// Kubernetes Service, an OpenAPI upstream) to the URL that replaces
	// the address the source gives it: the address the gateway reaches it
	// at.
	Targets map[string]string
	// Upstream names the upstream an OpenAPI document's routes go to.
	// Default: the document's title, made a name.
	Upstream string
}

// Result is a translation.
type Result struct {
	// Config is the translated configuration, without defaults applied.
	Config *config.Config
	// Notes are the source's items that were not translated, in source
	// order.
	Notes []Note
}

// translation collects a Result.
type translation struct {
	opt   Options
	cfg   *config.Config
	notes []Note
}

func newTranslation(o Options) *translation {
	return &translation{opt: o, cfg: &config.Config{Version: 1, Upstreams: map[string]*config.Upstream{}}}
}

func (t *translation) note(line int, format string, args ...any) {
	t.notes = append(t.notes, Note{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (t *translation) result() *Result {
	slices.SortStableFunc(t.notes, func(a, b Note) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Message, b.Message)) })
	// A plugin shared by several routes is read once per route.
	t.notes = slices.Compact(t.notes)
	if len(t.cfg.Upstreams) == 0 {
		t.cfg.Upstreams = nil
	}
	return &Result{Config: t.cfg, Notes: t.notes}
}

// target returns the URL that replaces backend name's address, or def.
func (t *translation) target(name, def string) string {
	if u, ok := t.opt.Targets[name]; ok {
		return u
	}
	return def
}

// address is u with the scheme, host and port that Options.Targets gives
// backend name, if any, keeping u's path: only the address is replaced.
func (t *translation) address(name string, u *url.URL) string {
	ov, ok := t.opt.Targets[name]
	if !ok {
		return u.String()
	}
	return strings.TrimSuffix(ov, "/") + u.Path
}

// routeName returns a unique route name made from parts.
func (t *translation) routeName(parts ...string) string {
	base := safeName(strings.Join(parts, "-"))
	n := base
	for i := 2; t.hasRoute(n); i++ {
		n = base + "-" + strconv.Itoa(i)
	}
	return n
}

func (t *translation) hasRoute(n string) bool {
	for _, r := range t.cfg.Routes {
		if r.Name == n {
			return true
		}
	}
	return false
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9_.]+`)

// safeName makes s a name Gantry accepts for routes, upstreams and plans:
// letters, digits, _, . and -.
func safeName(s string) string {
	s = strings.Trim(nameChars.ReplaceAllString(s, "-"), "-.")
	// Runs of other characters, dashes included, make one dash.
	if s == "" {
		return "unnamed"
	}
	return s
}

// mapping reads one YAML mapping of the source, remembering which keys
// were read so that the others can be reported.
type mapping struct {
	t    *translation
	n    *yaml.Node
	what string
	used map[string]bool
}

func (t *translation) mapping(n *yaml.Node, what string) *mapping {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind != yaml.MappingNode {
		if n.Kind != 0 && n.Tag != "!!null" {
			t.note(n.Line, "%s: want a mapping, not translated", what)
		}
		n = nil
	}
	return &mapping{t: t, n: n, what: what, used: map[string]bool{}}
}

// line is the mapping's line.
func (m *mapping) line() int {
	if m.n == nil {
		return 0
	}
	return m.n.Line
}

// get returns the value of key, or nil.
func (m *mapping) get(key string) *yaml.Node {
	m.used[key] = true
	if m.n == nil {
		return nil
	}
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			v := m.n.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if v.Tag == "!!null" {
				return nil
			}
			return v
		}
	}
	return nil
}

// keyLine is the line of key, or of the mapping.
func (m *mapping) keyLine(key string) int {
	if m.n != nil {
		for i := 0; i+1 < len(m.n.Content); i += 2 {
			if m.n.Content[i].Value == key {
				return m.n.Content[i].Line
			}
		}
	}
	return m.line()
}

func (m *mapping) str(key string) string {
	if v := m.get(key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func (m *mapping) num(key string) (float64, bool) {
	v := m.get(key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	return f, err == nil
}

func (m *mapping) boolean(key string, def bool) bool {
	v := m.get(key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return def
	}
	b, err := strconv.ParseBool(v.Value)
	if err != nil {
		return def
	}
	return b
}

// list returns the items of the sequence at key.
func (m *mapping) list(key string) []*yaml.Node {
	v := m.get(key)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil
	}
	return v.Content
}

func (m *mapping) strs(key string) []string {
	var out []string
	for _, e := range m.list(key) {
		if e.Kind == yaml.ScalarNode {
			out = append(out, e.Value)
		}
	}
	return out
}

// sub reads the mapping at key.
func (m *mapping) sub(key, what string) *mapping {
	return m.t.mapping(m.get(key), what)
}

// rest reports every key that was not read and has a value, except
// ignore (identifiers and bookkeeping that mean nothing to Gantry).
func (m *mapping) rest(ignore ...string) {
	if m.n == nil {
		return
	}
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		k, v := m.n.Content[i], m.n.Content[i+1]
		if m.used[k.Value] || slices.Contains(ignore, k.Value) || empty(v) {
			continue
		}
		m.t.note(k.Line, "%s: %s not translated", m.what, k.Value)
	}
}

// empty reports a value that carries nothing to translate: null, "",
// false (a feature left off), an empty list or mapping.
func empty(v *yaml.Node) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Tag == "!!null" || v.Value == "" || v.Tag == "!!bool" && v.Value == "false"
	case yaml.SequenceNode, yaml.MappingNode:
		return len(v.Content) == 0
	}
	return false
}

// Render writes cfg as YAML: keys in the order of the config types, empty
// sections and zero values left out, header as comment lines on top.
func Render(cfg *config.Config, header []string) ([]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	root, err := nodeFrom(dec)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	var lines []string
	for _, h := range header {
		lines = append(lines, "# "+h)
	}
	doc.HeadComment = strings.Join(lines, "\n")
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// nodeFrom reads one JSON value from dec as a YAML node, leaving out empty
// objects and arrays.
func nodeFrom(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if v == '[' {
			n.Kind = yaml.SequenceNode
		}
		for dec.More() {
			var key *yaml.Node
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(k)}
			}
			val, err := nodeFrom(dec)
			if err != nil {
				return nil, err
			}
			if (val.Kind == yaml.MappingNode || val.Kind == yaml.SequenceNode) && len(val.Content) == 0 {
				continue
			}
			if key != nil {
				n.Content = append(n.Content, key)
			}
			n.Content = append(n.Content, val)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(v.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}, nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
}

// documents parses data as a stream of YAML documents, each with its
// top-level node.
func documents(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("parsing YAML: %w", err)
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			out = append(out, doc.Content[0])
		}
	}
}
