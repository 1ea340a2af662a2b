package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/jsonstr"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// A template is a call's path, header value or body with placeholders:
//
//	{user_id}            the route's path parameter user_id
//	{user.id}            field id of call user's answer
//	{user.address.city}  a nested field
//	{orders.0.id}        an array element, by index
//	{orders.*.id}        every element: the call fans out, one request each
//
// A placeholder starts with "{" directly followed by a letter or "_" and
// ends at the next "}". Every other "{" and every "}" is literal text, so a
// JSON body reads as written: {"id": {user.id}}. "{{" is a literal "{" for
// the rare text that needs "{" before a letter.
type template struct {
	text  string
	parts []part
}

// part is literal text or a placeholder, with how its value is written.
type part struct {
	lit string
	ref *ref
	esc escaping
}

// escaping says how a value is written where its placeholder stands.
type escaping uint8

const (
	escPath       escaping = iota // a path: percent-encoded, "/" included
	escQuery                      // a query: form-encoded
	escHeader                     // a header value: as is, no control characters
	escJSON                       // a JSON body: the value, JSON-encoded
	escJSONString                 // inside a JSON string of a body: string content
)

// templateKind says where a template is used.
type templateKind uint8

const (
	kindPath templateKind = iota
	kindHeader
	kindBody
)

// ref is what a placeholder names: a route parameter (path nil) or a field
// of a call's answer.
type ref struct {
	// text is the placeholder as written, braces included, for messages.
	text string
	// name is the parameter or call name.
	name string
	// path is the field path inside the call's answer; "*" marks fan-out.
	path []string
	// star is the index of "*" in path, -1 for none.
	star int
	// call is the index of the named call, set once calls are known.
	call int
}

func (r *ref) isParam() bool { return r.path == nil }

// TemplateError is a syntax error in a template, at a byte offset.
type TemplateError struct {
	Text   string
	Offset int
	Reason string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("%s at offset %d of %q", e.Reason, e.Offset, e.Text)
}

// parseTemplate parses s as a template of the given kind.
func parseTemplate(s string, kind templateKind) (*template, error) {
	t := &template{text: s}
	var lit strings.Builder
	inQuery, inString, escaped := false, false, false
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '{' && i+1 < len(s) {
			if s[i+1] == '{' {
				lit.WriteByte('{')
				i += 2
				continue
			}
			if identStart(s[i+1]) {
				end := strings.IndexByte(s[i+1:], '}')
				if end < 0 {
					return nil, &TemplateError{s, i, `unclosed placeholder (write "{{" for a literal "{")`}
				}
				r, err := parseRef(s[i : i+end+2])
				if err != nil {
					return nil, &TemplateError{s, i, err.Error()}
				}
				flush()
				esc := escHeader
				switch {
				case kind == kindPath && inQuery:
					esc = escQuery
				case kind == kindPath:
					esc = escPath
				case kind == kindBody && inString:
					esc = escJSONString
				case kind == kindBody:
					esc = escJSON
				}
				t.parts = append(t.parts, part{ref: r, esc: esc})
				i += end + 2
				continue
			}
		}
		lit.WriteByte(c)
		switch {
		case kind == kindPath && c == '?':
			inQuery = true
		case kind != kindBody:
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		}
		i++
	}
	flush()
	return t, nil
}

// parseRef parses a placeholder, braces included.
func parseRef(text string) (*ref, error) {
	body := text[1 : len(text)-1]
	segs := strings.Split(body, ".")
	r := &ref{text: text, name: segs[0], star: -1, call: -1}
	if !ident(r.name) {
		return nil, fmt.Errorf("%s: want a name of letters, digits and _ before the first dot", text)
	}
	if len(segs) == 1 {
		return r, nil
	}
	r.path = segs[1:]
	for i, f := range r.path {
		switch {
		case f == "":
			return nil, fmt.Errorf("%s: empty field name", text)
		case f == "*" && r.star >= 0:
			return nil, fmt.Errorf("%s: only one * per placeholder", text)
		case f == "*":
			r.star = i
		case strings.ContainsAny(f, "{* \t\r\n"):
			return nil, fmt.Errorf("%s: field %q may not hold {, *, spaces or control characters", text, f)
		}
	}
	return r, nil
}

func identStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func ident(s string) bool {
	if s == "" || !identStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !identStart(c) && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// refs returns the template's placeholders.
func (t *template) refs() []*ref {
	var out []*ref
	for _, p := range t.parts {
		if p.ref != nil {
			out = append(out, p.ref)
		}
	}
	return out
}

// env is what placeholders resolve against: the route's parameters and
// the answers of finished calls, by call index. elem is the fan-out element
// index, -1 outside a fan-out.
type env struct {
	params  []pipeline.Param
	results []any
	elem    int
}

// FieldError says that a placeholder could not be resolved.
type FieldError struct {
	Ref    string
	Reason string
}

func (e *FieldError) Error() string { return e.Ref + ": " + e.Reason }

// render appends the template with its placeholders resolved against e.
// In a path, a placeholder's value must stay inside its segment: a segment
// it writes into that ends up empty, "." or ".." fails the render (#13),
// since percent-encoding cannot hide a dot from the upstream.
func (t *template) render(dst []byte, e *env) ([]byte, error) {
	base := len(dst)
	var spans [4]span
	written := spans[:0]
	for i := range t.parts {
		p := &t.parts[i]
		if p.ref == nil {
			dst = append(dst, p.lit...)
			continue
		}
		start := len(dst)
		if p.ref.isParam() {
			v, _ := param(e.params, p.ref.name)
			dst = appendParam(dst, v, p.esc)
		} else {
			v, err := resolve(p.ref, e)
			if err != nil {
				return dst, err
			}
			if dst, err = appendValue(dst, v, p.esc); err != nil {
				return dst, &FieldError{p.ref.text, err.Error()}
			}
		}
		if p.esc == escPath {
			written = append(written, span{p.ref, start - base, len(dst) - base})
		}
	}
	if len(written) > 0 {
		return dst, checkSegments(dst[base:], written)
	}
	return dst, nil
}

// span is where a placeholder's value was written in a rendered path.
type span struct {
	ref        *ref
	start, end int
}

// checkSegments fails when a segment of path that a value wrote into is
// empty, "." or ".." (also as "%2e"): such a value would leave its segment,
// "/users/{id}/profile" with id ".." reaching "/profile" at any RFC 3986
// server. A value's own "/" (a {name...} parameter) separates segments,
// each checked; a trailing "/" of the value is kept.
func checkSegments(path []byte, spans []span) error {
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	for _, sp := range spans {
		lo := bytes.LastIndexByte(path[:sp.start], '/') + 1
		for {
			hi := bytes.IndexByte(path[lo:], '/')
			if hi < 0 {
				hi = len(path)
			} else {
				hi += lo
			}
			if seg := path[lo:hi]; dotSegment(seg) {
				return &FieldError{sp.ref.text, fmt.Sprintf("the value makes the path segment %q; an empty, \".\" or \"..\" segment is refused", string(seg))}
			}
			if hi >= sp.end || hi == len(path) || hi+1 >= sp.end {
				break
			}
			lo = hi + 1
		}
	}
	return nil
}

// dotSegment reports whether seg is empty, "." or "..", escapes decoded.
func dotSegment(seg []byte) bool {
	if len(seg) == 0 {
		return true
	}
	if bytes.IndexByte(seg, '%') >= 0 {
		if d, err := url.PathUnescape(string(seg)); err == nil {
			return d == "." || d == ".."
		}
	}
	return string(seg) == "." || string(seg) == ".."
}

func param(ps []pipeline.Param, name string) (string, bool) {
	for i := range ps {
		if ps[i].Name == name {
			return ps[i].Value, true
		}
	}
	return "", false
}

// resolve finds the value r names in e: the field path walked from the
// call's answer, with "*" standing for element e.elem.
func resolve(r *ref, e *env) (any, error) {
	v := e.results[r.call]
	at := r.name
	for i, f := range r.path {
		if i == r.star {
			arr, ok := v.([]any)
			if !ok {
				return nil, &FieldError{r.text, fmt.Sprintf("%s is %s, not an array", at, kindOf(v))}
			}
			if e.elem < 0 || e.elem >= len(arr) {
				return nil, &FieldError{r.text, fmt.Sprintf("%s has no element %d", at, e.elem)}
			}
			v = arr[e.elem]
			at += "." + strconv.Itoa(e.elem)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[f]
			if !ok {
				return nil, &FieldError{r.text, fmt.Sprintf("%s has no field %q", at, f)}
			}
			v = next
		case []any:
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n >= len(x) {
				return nil, &FieldError{r.text, fmt.Sprintf("%s is an array of %d, with no element %q", at, len(x), f)}
			}
			v = x[n]
		default:
			return nil, &FieldError{r.text, fmt.Sprintf("%s is %s, with no field %q", at, kindOf(v), f)}
		}
		at += "." + f
	}
	return v, nil
}

// fanOut returns the array a fan-out reference walks: the value before its
// "*".
func fanOut(r *ref, e *env) ([]any, error) {
	head := &ref{text: r.text, name: r.name, path: r.path[:r.star], star: -1, call: r.call}
	v, err := resolve(head, e)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		at := strings.Join(append([]string{r.name}, head.path...), ".")
		return nil, &FieldError{r.text, fmt.Sprintf("%s is %s, not an array to fan out over", at, kindOf(v))}
	}
	return arr, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// appendParam writes a route parameter. v is as the router captured it,
// from the canonical path: decoded text, except that '%', '/' and '\' of
// the client's text are still "%25", "%2F" and "%5C" (wire.CanonicalPath).
// It is decoded exactly once here and encoded exactly once for its place
// (#13: "%252e" from the client was sent as "%25252e"). In a path, a
// {name...} parameter's literal "/" stays a separator, while a "/" the
// client encoded is written as "%2F" again.
func appendParam(dst []byte, v string, esc escaping) []byte {
	switch esc {
	case escPath:
		for {
			seg, rest, more := strings.Cut(v, "/")
			dst = append(dst, url.PathEscape(wire.UnescapeCanonical(seg))...)
			if !more {
				return dst
			}
			dst = append(dst, '/')
			v = rest
		}
	case escQuery:
		return append(dst, url.QueryEscape(wire.UnescapeCanonical(v))...)
	case escJSON:
		return appendString(dst, wire.UnescapeCanonical(v))
	case escJSONString:
		return appendStringContent(dst, wire.UnescapeCanonical(v))
	}
	return append(dst, wire.UnescapeCanonical(v)...)
}

// appendValue writes a value from a call's answer.
func appendValue(dst []byte, v any, esc escaping) ([]byte, error) {
	switch esc {
	case escJSON:
		return appendJSON(dst, v), nil
	case escJSONString:
		if s, ok := v.(string); ok {
			return appendStringContent(dst, s), nil
		}
		return appendStringContent(dst, string(appendJSON(nil, v))), nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return dst, fmt.Errorf("is %s, not a string, number or boolean", kindOf(v))
	}
	switch esc {
	case escPath:
		return append(dst, url.PathEscape(s)...), nil
	case escQuery:
		return append(dst, url.QueryEscape(s)...), nil
	}
	if !wire.ValidFieldValue(s) {
		return dst, fmt.Errorf("holds control characters, which a header cannot carry")
	}
	return append(dst, s...), nil
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

// appendStringContent appends s escaped for the inside of a JSON string.
func appendStringContent(dst []byte, s string) []byte { return jsonstr.AppendContent(dst, s, false) }
