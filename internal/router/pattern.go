package router

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// PatternError is a syntax error in a path pattern, a path prefix or a
// rewrite template. It reads like
//
//	path "/users/{id": unclosed "{" at offset 7
//
// where the offset counts bytes from the start of the text.
type PatternError struct {
	// Kind names what was parsed: "path", "path_prefix" or "rewrite".
	Kind string
	// Text is the text that was parsed.
	Text string
	// Offset is the byte offset of the problem, -1 when it concerns the
	// whole text.
	Offset int
	// Reason says what is wrong.
	Reason string
}

// Error formats e as `path "/users/{id": unclosed "{" at offset 7`.
func (e *PatternError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("%s %q: %s", e.Kind, e.Text, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s at offset %d", e.Kind, e.Text, e.Reason, e.Offset)
}

type segKind uint8

const (
	segLiteral  segKind = iota // text must equal the segment
	segParam                   // {name}: exactly one non-empty segment
	segCatchAll                // {name...}: the non-empty rest of the path
)

type segment struct {
	kind segKind
	text string // the literal, or the parameter name
}

// Pattern is a parsed match.path: a "/"-separated list of segments, each
// either literal text, a parameter {name} that matches exactly one non-empty
// segment, or, as the last segment only, a catch-all {name...} that matches
// the rest of the path: one or more characters, slashes included. So
// "/files/{path...}" matches "/files/a" and "/files/a/b.txt" but neither
// "/files/" nor "/files".
//
// A parameter is always a whole segment; "/files/{id}.json" is refused.
// Names are identifiers (letters, digits and "_", not starting with a digit),
// unique within a pattern. A trailing slash is literal: "/users/" matches
// "/users/" only. Patterns match canonical (decoded, slash-merged, dot-free)
// paths, so empty inner segments, "." and "..", and "?", "#" or control
// characters are refused: they could never match.
//
// A Pattern is immutable and safe for concurrent use.
type Pattern struct {
	// src is the pattern's text, shared with the configuration. A
	// static pattern keeps only it: it matches src and nothing else, so a
	// table of many static routes holds no segments for them.
	src  string
	segs []segment // nil for a static pattern
	n    int       // number of parameters
}

// parsePattern parses a match.path pattern.
func parsePattern(s string) (*Pattern, error) {
	fail := func(off int, format string, args ...any) (*Pattern, error) {
		return nil, &PatternError{Kind: "path", Text: s, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail(-1, "must not be empty")
	}
	if s[0] != '/' {
		return fail(0, `must start with "/"`)
	}
	p := &Pattern{src: s}
	// Only a pattern with parameters keeps its segments, and the table
	// keeps them for its lifetime: one array of the exact size, and none
	// for a static pattern, so that parsing a large table leaves no
	// garbage among what it keeps.
	params := strings.IndexByte(s, '{') >= 0
	if params {
		p.segs = make([]segment, 0, strings.Count(s, "/"))
	}
	for start := 1; start <= len(s); {
		end := strings.IndexByte(s[start:], '/')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		seg := s[start:end]
		last := end == len(s)
		if seg == "" && !last {
			return fail(start, `empty segment ("//") never matches a canonical path`)
		}
		if seg == "." || seg == ".." {
			return fail(start, "dot segment %q never matches a canonical path", seg)
		}
		if seg != "" && seg[0] == '{' {
			close := strings.IndexByte(seg, '}')
			if close < 0 {
				return fail(start, `unclosed "{"`)
			}
			if close != len(seg)-1 {
				return fail(start, "segment %q mixes a parameter with literal text; a parameter must be a whole segment", seg)
			}
			name := seg[1:close]
			kind := segParam
			if n, ok := strings.CutSuffix(name, "..."); ok {
				name, kind = n, segCatchAll
			}
			if err := checkName(name); err != "" {
				return fail(start+1, "%s", err)
			}
			if p.param(name) >= 0 {
				return fail(start+1, "duplicate parameter name %q", name)
			}
			if kind == segCatchAll && !last {
				return fail(start, "catch-all {%s...} must be the last segment", name)
			}
			p.segs = append(p.segs, segment{kind: kind, text: name})
			p.n++
		} else {
			for i := 0; i < len(seg); i++ {
				switch c := seg[i]; {
				case c == '{':
					return fail(start+i, "segment %q mixes a parameter with literal text; a parameter must be a whole segment", seg)
				case c == '}':
					return fail(start+i, `unexpected "}"`)
				case c == '?' || c == '#':
					return fail(start+i, "%q is not allowed: a pattern matches the path only", string(c))
				case c < 0x20 || c == 0x7f:
					return fail(start+i, "control character %q is not allowed", string(c))
				case c == ' ':
					return fail(start+i, "a space never matches: paths with a space are refused")
				case c == ';':
					return fail(start+i, `";" never matches: matrix parameters (";..." in a segment) are removed before matching`)
				}
			}
			if params {
				p.segs = append(p.segs, segment{kind: segLiteral, text: seg})
			}
		}
		start = end + 1
	}
	return p, nil
}

// leading returns the pattern's first segment when it is literal, else "".
func (p *Pattern) leading() string {
	if p.Static() {
		rest := p.src[1:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return rest[:i]
		}
		return rest
	}
	if p.segs[0].kind == segLiteral {
		return p.segs[0].text
	}
	return ""
}

// param returns the index of the parameter name among p's parameters, or
// -1.
func (p *Pattern) param(name string) int {
	i := 0
	for _, sg := range p.segs {
		if sg.kind == segLiteral {
			continue
		}
		if sg.text == name {
			return i
		}
		i++
	}
	return -1
}

// checkName returns why name is not a valid parameter name, or "".
func checkName(name string) string {
	if name == "" {
		return "empty parameter name"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return fmt.Sprintf("invalid parameter name %q: want letters, digits and \"_\", not starting with a digit", name)
	}
	return ""
}

// String returns the pattern's text; ParsePattern(p.String()) gives back p.
func (p *Pattern) String() string { return p.src }

// shape returns the pattern with parameter names left out ("/users/{}",
// "/files/{...}"): two patterns with the same shape match the same paths.
func (p *Pattern) shape() string {
	if p.Static() {
		return p.src
	}
	var b strings.Builder
	for _, sg := range p.segs {
		b.WriteByte('/')
		switch sg.kind {
		case segLiteral:
			b.WriteString(sg.text)
		case segParam:
			b.WriteString("{}")
		case segCatchAll:
			b.WriteString("{...}")
		}
	}
	return b.String()
}

// Names returns the parameter names in pattern order.
func (p *Pattern) Names() []string {
	var names []string
	for _, sg := range p.segs {
		if sg.kind != segLiteral {
			names = append(names, sg.text)
		}
	}
	return names
}

// Static reports whether the pattern has no parameters, so it matches
// exactly one path.
func (p *Pattern) Static() bool { return p.n == 0 }

// Match reports whether path matches p and returns the parameters in
// pattern order (nil for a static pattern). Values are substrings of path.
func (p *Pattern) Match(path string) ([]pipeline.Param, bool) {
	if !p.match(path, nil) {
		return nil, false
	}
	if p.n == 0 {
		return nil, true
	}
	params := make([]pipeline.Param, p.n)
	p.match(path, params)
	return params, true
}

// fill completes params, len p.n, for path, which p matched on a trie walk
// that kept nvals parameter values in params' array (MatchBuf's buffer,
// kept says it was large enough): it names them in the pattern's order.
// Otherwise match parses path again.
func (p *Pattern) fill(params []pipeline.Param, nvals int, kept bool, path string) {
	if !kept || nvals != p.n {
		p.match(path, params)
		return
	}
	i := 0
	for _, sg := range p.segs {
		if sg.kind != segLiteral {
			params[i].Name = sg.text
			i++
		}
	}
}

func (p *Pattern) match(path string, params []pipeline.Param) bool {
	if p.Static() {
		return path == p.src
	}
	if path == "" || path[0] != '/' {
		return false
	}
	pos, n := 1, 0
	for i, sg := range p.segs {
		if sg.kind == segCatchAll {
			if pos >= len(path) {
				return false
			}
			if params != nil {
				params[n] = pipeline.Param{Name: sg.text, Value: path[pos:]}
			}
			return true
		}
		end := strings.IndexByte(path[pos:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += pos
		}
		seg := path[pos:end]
		switch sg.kind {
		case segLiteral:
			if seg != sg.text {
				return false
			}
		case segParam:
			if seg == "" {
				return false
			}
			if params != nil {
				params[n] = pipeline.Param{Name: sg.text, Value: seg}
			}
			n++
		}
		if i == len(p.segs)-1 {
			return end == len(path)
		}
		if end == len(path) {
			return false
		}
		pos = end + 1
	}
	return false
}

// Expand substitutes params (by name) into p. It is the inverse of Match:
// p.Expand(params) == path for every path that p matches.
func (p *Pattern) Expand(params []pipeline.Param) string {
	if p.Static() {
		return p.src
	}
	var b strings.Builder
	for _, sg := range p.segs {
		b.WriteByte('/')
		if sg.kind == segLiteral {
			b.WriteString(sg.text)
			continue
		}
		for _, pr := range params {
			if pr.Name == sg.text {
				b.WriteString(pr.Value)
				break
			}
		}
	}
	return b.String()
}

// prefix is a parsed match.path_prefix. It matches at segment boundaries:
// "/orders" matches "/orders", "/orders/" and "/orders/7" but not
// "/ordersX". A prefix ending in "/" ("/orders/") matches every path that
// starts with it, so "/orders/" and "/orders/7" but not "/orders"; "/"
// matches every path.
type prefix struct {
	segs  []string // literal segments, without the trailing slash
	slash bool     // the prefix ends in "/"
}

// parsePrefix parses a literal path prefix: match.path_prefix, or
// strip_prefix (kind names which, for errors).
func parsePrefix(kind, s string) (prefix, error) {
	fail := func(off int, format string, args ...any) (prefix, error) {
		return prefix{}, &PatternError{Kind: kind, Text: s, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail(-1, "must not be empty")
	}
	if s[0] != '/' {
		return fail(0, `must start with "/"`)
	}
	var px prefix
	body := s[1:]
	if body == "" || strings.HasSuffix(body, "/") {
		px.slash = true
		body = strings.TrimSuffix(body, "/")
	}
	if body == "" {
		return px, nil
	}
	off := 1
	for seg := range strings.SplitSeq(body, "/") {
		if seg == "" {
			return fail(off, `empty segment ("//") never matches a canonical path`)
		}
		if seg == "." || seg == ".." {
			return fail(off, "dot segment %q never matches a canonical path", seg)
		}
		for i := 0; i < len(seg); i++ {
			switch c := seg[i]; {
			case c == '{' || c == '}':
				if kind == "path_prefix" {
					return fail(off+i, "%q is not allowed: a path_prefix is literal; use match.path for {parameters}", string(c))
				}
				return fail(off+i, "%q is not allowed: %s is literal", string(c), kind)
			case c == '?' || c == '#':
				return fail(off+i, "%q is not allowed: a prefix matches the path only", string(c))
			case c < 0x20 || c == 0x7f:
				return fail(off+i, "control character %q is not allowed", string(c))
			case c == ' ':
				return fail(off+i, "a space never matches: paths with a space are refused")
			case c == ';':
				return fail(off+i, `";" never matches: matrix parameters (";..." in a segment) are removed before matching`)
			}
		}
		px.segs = append(px.segs, seg)
		off += len(seg) + 1
	}
	return px, nil
}

// String returns the prefix in its canonical form.
func (px prefix) String() string {
	s := "/" + strings.Join(px.segs, "/")
	if px.slash && len(px.segs) > 0 {
		s += "/"
	}
	return s
}

// hasSegmentPrefix reports whether path starts with pre at a segment
// boundary. pre has no trailing slash (except "/" itself).
func hasSegmentPrefix(path, pre string) bool {
	if pre == "/" {
		return strings.HasPrefix(path, "/")
	}
	return strings.HasPrefix(path, pre) && (len(path) == len(pre) || path[len(pre)] == '/')
}
