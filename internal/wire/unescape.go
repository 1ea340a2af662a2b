package wire

import "strings"

// UnescapeCanonical returns the decoded text of s, a canonical path or a
// part of one (such as a route parameter): the escapes a canonical path
// keeps, "%25", "%2F" and "%5C", become '%', '/' and '\'. Every other byte
// of a canonical path is already decoded. A string without '%' is returned
// as is, without allocating.
//
// The result is text, not a path: a '/' that came from "%2F" is no longer
// told apart from a separator, so split a path on its literal '/' first
// when separators matter.
func UnescapeCanonical(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for ; i >= 0; i = strings.IndexByte(s, '%') {
		b.WriteString(s[:i])
		if keptEscape(s[i+1:]) {
			b.WriteByte(keptByte[s[i+2]])
			s = s[i+3:]
			continue
		}
		// Not produced by CanonicalPath; kept as it is.
		b.WriteByte('%')
		s = s[i+1:]
	}
	b.WriteString(s)
	return b.String()
}

// keptByte maps the second hex digit of a kept escape to its byte.
var keptByte = [256]byte{'5': '%', 'F': '/', 'C': '\\'}
