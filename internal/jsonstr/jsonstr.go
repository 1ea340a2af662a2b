// Package jsonstr appends strings as JSON string literals without
// reflection or allocation. The gateway writes JSON by hand on its hot
// paths (error bodies, access log lines, aggregate request bodies), and
// all of them escape the same way:
//
//   - quotes, backslashes and control characters are escaped (\n, \r, \t,
//     else \u00XX);
//   - <, > and & become \u003c, \u003e and \u0026, and U+2028 and U+2029
//     are escaped, as encoding/json does, so a value is also safe inside
//     HTML and JavaScript;
//   - invalid UTF-8 becomes U+FFFD.
//
// strconv.Quote is Go syntax, not JSON: its \x00 and \U0001f600 forms are
// rejected by JSON parsers.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safe reports the ASCII bytes that need no escaping.
var safe = func() [utf8.RuneSelf]bool {
	var t [utf8.RuneSelf]bool
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Append appends s to dst as a quoted JSON string.
func Append(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendContent(dst, s, false)
	return append(dst, '"')
}

// AppendContent appends the escaped inside of a JSON string for s. With
// redactQuery, a '?' followed by a byte that is neither a space nor a
// quote starts a query: the '?' is kept and what follows up to the next
// space or quote is dropped, so URLs quoted inside error texts cannot leak
// API keys.
func AppendContent(dst []byte, s string, redactQuery bool) []byte {
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				if c == '?' && redactQuery && i+1 < len(s) && !endsQuery(s[i+1]) {
					dst = append(dst, s[start:i+1]...)
					i++
					for i < len(s) && !endsQuery(s[i]) {
						i++
					}
					start = i
					continue
				}
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// endsQuery reports the bytes that end a URL quoted in a message.
func endsQuery(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == '\t' || c == '\n' || c == '\r' || c == '`'
}
