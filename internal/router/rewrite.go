package router

import (
	"fmt"
	"strings"
)

// template is a compiled rewrite: literal text and references to the
// route's path parameters. Unlike a pattern, a template may put a parameter
// inside a segment ("/v1/files/{id}.json").
type template struct {
	raw   string
	parts []tplPart
}

type tplPart struct {
	lit   string
	param int // index into the route's parameters; -1 for literal text
}

// parseTemplate parses a rewrite template against the route's pattern
// (nil for a prefix route, which has no parameters). Each {name} must be a
// parameter of the pattern; {name...} must name its catch-all.
func parseTemplate(s string, p *Pattern) (*template, error) {
	fail := func(off int, format string, args ...any) (*template, error) {
		return nil, &PatternError{Kind: "rewrite", Text: s, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail(-1, "must not be empty")
	}
	if s[0] != '/' {
		return fail(0, `must start with "/"`)
	}
	t := &template{raw: s}
	lit := 0 // start of the pending literal text
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '}':
			return fail(i, `unexpected "}"`)
		case c == '?' || c == '#':
			return fail(i, "%q is not allowed: a rewrite sets the path only", string(c))
		case c < 0x20 || c == 0x7f:
			return fail(i, "control character %q is not allowed", string(c))
		case c == ' ':
			// Upstreams may rely on the gateway's paths: no space, as in
			// every canonical path.
			return fail(i, "a space is not allowed: the gateway never forwards a path with a space")
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return fail(i, `unclosed "{"`)
			}
			end += i
			name, catchAll := strings.CutSuffix(s[i+1:end], "...")
			if msg := checkName(name); msg != "" {
				return fail(i+1, "%s", msg)
			}
			idx := -1
			if p != nil {
				idx = p.param(name)
			}
			switch {
			case p == nil:
				return fail(i+1, "{%s}: a path_prefix route has no parameters", name)
			case idx < 0:
				return fail(i+1, "{%s} is not a parameter of match.path %q", name, p.String())
			case catchAll && p.segs[len(p.segs)-1].kind != segCatchAll,
				catchAll && p.segs[len(p.segs)-1].text != name:
				return fail(i+1, "{%s...}: %q is not the catch-all of match.path %q", name, name, p.String())
			}
			if lit < i {
				t.parts = append(t.parts, tplPart{lit: s[lit:i], param: -1})
			}
			t.parts = append(t.parts, tplPart{param: idx})
			i, lit = end, end+1
		}
	}
	if lit < len(s) {
		t.parts = append(t.parts, tplPart{lit: s[lit:], param: -1})
	}
	return t, nil
}

func (t *template) expand(res *Result) string {
	n := 0
	for _, pt := range t.parts {
		if pt.param < 0 {
			n += len(pt.lit)
		} else if pt.param < len(res.Params) {
			n += len(res.Params[pt.param].Value)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, pt := range t.parts {
		if pt.param < 0 {
			b.WriteString(pt.lit)
		} else if pt.param < len(res.Params) {
			b.WriteString(res.Params[pt.param].Value)
		}
	}
	return b.String()
}

// ForwardPath returns the path to send upstream for a request that res
// matched to rt: the rewrite template with the parameters substituted, or
// the matched path with strip_prefix removed (only at a segment boundary;
// "/api" stripped from "/api" gives "/"), or else the matched path. The
// matched path is res.Path, so a version segment taken from the path is
// never forwarded.
//
// The result is unescaped: parameter values are decoded segment text and
// may hold characters such as "?", "%" or " ". The caller must escape it
// when building the upstream URL (set url.URL.Path and let EscapedPath do
// it), never paste it into a raw URL.
func (rt *Route) ForwardPath(res *Result) string {
	f := rt.fwd
	switch {
	case f == nil:
	case f.rewrite != nil:
		return f.rewrite.expand(res)
	case f.strip != "" && hasSegmentPrefix(res.Path, f.strip):
		if p := res.Path[len(f.strip):]; p != "" {
			return p
		}
		return "/"
	}
	return res.Path
}

// parseStrip checks strip_prefix and returns it without trailing slash;
// "/" strips nothing and gives "".
func parseStrip(s string) (string, error) {
	px, err := parsePrefix("strip_prefix", s)
	if err != nil {
		return "", err
	}
	if len(px.segs) == 0 {
		return "", nil
	}
	return "/" + strings.Join(px.segs, "/"), nil
}
