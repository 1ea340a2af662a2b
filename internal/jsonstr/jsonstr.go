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

// safe holds 1 for the bytes that need no escaping: printable ASCII but
// the quote, the backslash and <, > and &. Bytes from 0x80 up are not in
// it: they start a UTF-8 sequence to check. plain is safe without '?', for
// AppendContent's redaction, which must stop at one. The entries are
// bytes, not bools, so that eight of them can be combined with & and
// tested with one branch.
var safe, plain = func() (t, p [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		if c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			t[c] = 1
		}
	}
	p = t
	p['?'] = 0
	return t, p
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
//
// The runs of bytes that need nothing are skipped by one table lookup a
// byte and appended whole; every access log line goes through here.
func AppendContent(dst []byte, s string, redactQuery bool) []byte {
	skip := &safe
	if redactQuery {
		skip = &plain
	}
	start := 0 // s[start:i] is pending and needs no escaping
	next := 0  // where skipping whole words is tried again
	for i := 0; i < len(s); {
		if i >= next {
			// Runs of safe bytes are skipped eight at a time: one
			// branch for eight table lookups. The word that stops it is
			// done byte by byte, so text dense with bytes to escape
			// pays for one failed word per eight bytes at most.
			for len(s)-i >= 8 {
				w := s[i : i+8]
				if skip[w[0]]&skip[w[1]]&skip[w[2]]&skip[w[3]]&skip[w[4]]&skip[w[5]]&skip[w[6]]&skip[w[7]] == 0 {
					break
				}
				i += 8
			}
			next = i + 8
			if i == len(s) {
				break
			}
		}
		if skip[s[i]] != 0 {
			i++
			continue
		}
		c := s[i]
		if c == '?' { // redactQuery: plain stopped here
			if i+1 < len(s) && !endsQuery(s[i+1]) {
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
		if c < utf8.RuneSelf {
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
