package wire

import (
	"bytes"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// CanonicalPath returns the one canonical form of r's path, taken from the
// raw request target (r.RequestURI; for absolute-form "http://host/p?q" its
// path; when RequestURI is empty, as for client-made requests,
// r.URL.EscapedPath()). The router matches it and the proxy forwards
// EscapePath of it, so both see the same thing.
//
// The canonical path:
//   - starts with "/", has no empty segments ("//" is merged), no "." or
//     ".." segments (resolved per RFC 3986 §5.2.4, also when percent-encoded,
//     never above the root) and keeps a trailing slash;
//   - is percent-decoded, except that '%', '/' and '\' stay encoded as
//     "%25", "%2F" and "%5C" (upper-case hex), so that a decoded byte never
//     takes a meaning its encoding did not have;
//   - holds non-ASCII text as raw UTF-8;
//   - keeps ';' (raw or decoded from "%3B") and what follows it as
//     characters of its segment: StripMatrixParams gives the path that is
//     matched.
//
// encodedSlash reports an encoded slash or a literal or encoded backslash
// anywhere in the raw path, even in a segment a later ".." removed. The
// path is still returned: the server refuses it with 400 unless the matched
// route allows encoded slashes.
//
// CanonicalPath fails (with a *pipeline.HTTPError, status 400) on a '#' in
// the target, an asterisk-form or authority-form target, a malformed
// escape, a control character or space (raw or encoded as "%20", NUL
// included),
// invalid UTF-8 after decoding (overlong forms such as "%c0%ae" included)
// and a dot segment with parameters ("..;x"), which some upstreams treat as
// "..". A path that needs no change is returned without allocating.
func CanonicalPath(r *http.Request) (path string, encodedSlash bool, err error) {
	target := r.RequestURI
	if target == "" {
		if r.URL == nil {
			return "", false, pathError("no request target")
		}
		target = r.URL.EscapedPath()
		if target == "" {
			target = "/"
		}
	}
	return canonical(target)
}

// canonical is CanonicalPath on a raw request target.
func canonical(target string) (string, bool, error) {
	if strings.IndexByte(target, '#') >= 0 {
		return "", false, pathError("fragment in request target")
	}
	p, err := pathOf(target)
	if err != nil {
		return "", false, err
	}
	if plain(p) {
		return p, false, nil
	}
	return rebuild(p)
}

// pathOf returns the path of an origin-form or absolute-form target.
func pathOf(target string) (string, error) {
	if target == "" || target[0] != '/' {
		if target == "*" {
			return "", pathError("asterisk-form request target")
		}
		i := strings.Index(target, "://")
		if i <= 0 || !validScheme(target[:i]) {
			return "", pathError("request target is not a path")
		}
		target = target[i+len("://"):]
		j := strings.IndexAny(target, "/?")
		if j < 0 || target[j] == '?' {
			return "/", nil
		}
		target = target[j:]
	}
	if q := strings.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	return target, nil
}

// validScheme reports whether s is a URI scheme (RFC 3986 §3.1).
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// plain reports whether p is already canonical by a cheap test: printable
// ASCII without escapes or backslashes, and no segment that is empty or
// starts with a dot.
func plain(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '%' || c == '\\' {
			return false
		}
		if c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
			return false
		}
	}
	return true
}

// rebuild decodes p segment by segment, resolving dot segments as it goes.
func rebuild(p string) (string, bool, error) {
	var buf [256]byte // Most paths fit; rebuilding then allocates only the result.
	out := buf[:0]
	encoded := false
	trailing := false
	rest := p[1:]
	for {
		seg, more := rest, false
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest, more = rest[:j], rest[j+1:], true
		}
		start := len(out)
		out = append(out, '/')
		var err error
		out, err = appendSegment(out, seg, &encoded)
		if err != nil {
			return "", false, err
		}
		// Checked per segment so that ".." cannot hide a bad one.
		if !utf8.Valid(out[start+1:]) {
			return "", false, pathError("invalid UTF-8")
		}
		switch d := out[start+1:]; {
		case len(d) == 0, string(d) == ".":
			out = out[:start]
			trailing = true
		case string(d) == "..":
			out = out[:start]
			if k := bytes.LastIndexByte(out, '/'); k >= 0 {
				out = out[:k]
			}
			trailing = true
		case bytes.HasPrefix(d, dotParam), bytes.HasPrefix(d, dotDotParam):
			return "", false, pathError("dot segment with parameters")
		default:
			trailing = false
		}
		if !more {
			break
		}
	}
	if trailing || len(out) == 0 {
		out = append(out, '/')
	}
	if encoded && hiddenSegments(out) {
		return "", false, pathError("empty or dot segment behind an encoded slash")
	}
	if string(out) == p {
		return p, encoded, nil
	}
	return string(out), encoded, nil
}

// hiddenSegment reports whether d, a canonical segment, holds an encoded
// slash or backslash next to an empty, "." or ".." piece: "..%2Fadmin",
// "%2Fadmin", "a%5C..". Such a segment is one segment here (on a route
// with allow_encoded_slash), but an upstream that decodes %2F or reads a
// backslash as a slash (Tomcat with ALLOW_ENCODED_SLASH, IIS) resolves it
// to another path, /admin under /files/..%2Fadmin, or under /%2Fadmin
// once strip_prefix removed what was in front.
func hiddenSegment(d []byte) bool {
	if !bytes.Contains(d, encSlash) && !bytes.Contains(d, encBackslash) {
		return false
	}
	for {
		piece := d
		next := -1
		for i := 0; i+3 <= len(d); i++ {
			if d[i] == '%' && (d[i+1] == '2' && d[i+2] == 'F' || d[i+1] == '5' && d[i+2] == 'C') {
				next = i
				break
			}
		}
		if next >= 0 {
			piece = d[:next]
		}
		// Judged without its ";" parameters, as the route was matched
		// and as Tomcat reads it: "a%2F;x" hides an empty piece.
		if k := bytes.IndexByte(piece, ';'); k >= 0 {
			piece = piece[:k]
		}
		if len(piece) == 0 || string(piece) == "." || string(piece) == ".." {
			return true
		}
		if next < 0 {
			return false
		}
		d = d[next+3:]
	}
}

// hiddenSegments reports whether a segment of the canonical path p is a
// hiddenSegment.
func hiddenSegments(p []byte) bool {
	for len(p) > 0 {
		p = p[1:] // the '/' before the segment
		seg := p
		if j := bytes.IndexByte(p, '/'); j >= 0 {
			seg, p = p[:j], p[j:]
		} else {
			p = nil
		}
		if hiddenSegment(seg) {
			return true
		}
	}
	return false
}

var encSlash, encBackslash = []byte("%2F"), []byte("%5C")

// appendSegment appends the canonical form of one raw path segment.
func appendSegment(out []byte, seg string, encoded *bool) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) {
				return nil, pathError("malformed percent-escape")
			}
			hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
			if hi < 0 || lo < 0 {
				return nil, pathError("malformed percent-escape")
			}
			i += 2
			switch d := byte(hi<<4 | lo); {
			case d == '/':
				out = append(out, "%2F"...)
				*encoded = true
			case d == '\\':
				out = append(out, "%5C"...)
				*encoded = true
			case d == '%':
				out = append(out, "%25"...)
			case d == 0:
				return nil, pathError("encoded NUL byte")
			case d < 0x20 || d == 0x7f:
				return nil, pathError("encoded control character")
			case d == ' ':
				// Refused like a raw space: an upstream that splits a
				// request line or a log line on spaces must not get one.
				return nil, pathError("encoded space")
			default:
				out = append(out, d)
			}
		case c == '\\':
			out = append(out, "%5C"...)
			*encoded = true
		case c == 0:
			return nil, pathError("NUL byte")
		case c <= ' ' || c == 0x7f:
			return nil, pathError("control character or space")
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// StripMatrixParams returns the canonical path p with the matrix
// parameters of every segment removed: ';' and what follows it up to the
// next '/'. Tomcat, Jetty and Spring read "/admin;x=1/y" as "/admin/y", so
// the gateway matches routes, and applies their auth, on that reading too.
// A segment left empty is dropped, except that an empty last segment keeps
// the trailing slash ("/admin/;jsessionid=1" is "/admin/"). The result is
// canonical; a p without ';' is returned as is, without allocating.
// CanonicalPath already refused the dot segments with parameters ("..;x")
// that would resolve differently once stripped.
func StripMatrixParams(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	trailing := false
	for rest := p[1:]; ; {
		seg, more := rest, false
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest, more = rest[:j], rest[j+1:], true
		}
		if k := strings.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k]
		}
		trailing = seg == ""
		if !trailing {
			b.WriteByte('/')
			b.WriteString(seg)
		}
		if !more {
			break
		}
	}
	if trailing || b.Len() == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// MatrixSuffix returns the part of the canonical path orig that fwd stands
// for, matrix parameters included, where fwd is StripMatrixParams(orig) or
// a segment suffix of it ("/" for none), as a route's strip_prefix or a
// version taken from the path leaves it: orig without its leading segments
// up to the last one fwd leaves out. It is how a route that accepts matrix
// parameters forwards them: "/api;v=1/users;id=7" with strip_prefix /api
// gives "/users;id=7", and MatrixSuffix(orig, StripMatrixParams(orig)) is
// orig.
func MatrixSuffix(orig, fwd string) string {
	k := 0 // segments of fwd that are not empty
	for i := 1; i <= len(fwd); i++ {
		if (i == len(fwd) || fwd[i] == '/') && fwd[i-1] != '/' {
			k++
		}
	}
	start, n := len(orig), 0
	for i := len(orig); i > 0; {
		j := strings.LastIndexByte(orig[:i], '/')
		seg := orig[j+1 : i]
		if c := strings.IndexByte(seg, ';'); c >= 0 {
			seg = seg[:c]
		}
		if seg != "" {
			if n == k {
				break
			}
			n++
		}
		start, i = j, j
	}
	if start == len(orig) {
		return "/"
	}
	return orig[start:]
}

var (
	dotParam    = []byte(".;")
	dotDotParam = []byte("..;")
)

// EscapePath returns the canonical path p as a request target path for an
// upstream: it percent-encodes (as UTF-8, upper-case hex) what RFC 3986
// does not allow raw in a path, that is controls, space, non-ASCII and
// `"#<>?[\]^`+"`"+`{|}`, and '%' unless it starts "%25", "%2F" or "%5C".
// CanonicalPath of the result is p again. A path that needs no escaping is
// returned as is, without allocating.
func EscapePath(p string) string {
	i := 0
	for ; i < len(p); i++ {
		if needsEscape(p, i) {
			break
		}
	}
	if i == len(p) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 16)
	b.WriteString(p[:i])
	for ; i < len(p); i++ {
		c := p[i]
		if needsEscape(p, i) {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func needsEscape(p string, i int) bool {
	c := p[i]
	if c == '%' {
		return !keptEscape(p[i+1:])
	}
	return mustEscape[c]
}

// keptEscape reports whether s starts with the hex digits of one of the
// escapes a canonical path keeps.
func keptEscape(s string) bool {
	if len(s) < 2 {
		return false
	}
	switch s[:2] {
	case "25", "2F", "5C":
		return true
	}
	return false
}

var mustEscape = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c <= ' ' || c >= 0x7f
	}
	for _, c := range []byte("\"#<>?[\\]^`{|}") {
		t[c] = true
	}
	return t
}()

func pathError(msg string) error {
	return &pipeline.HTTPError{Status: http.StatusBadRequest, Code: pipeline.CodeBadRequest, Message: msg}
}
