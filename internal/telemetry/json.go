package telemetry

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The access log encodes by hand: encoding/json would cost reflection and
// allocations per line, and strconv.Quote is Go syntax, not JSON (it writes
// \x00 and \U0001f600 forms that JSON parsers reject).

const hexDigits = "0123456789abcdef"

// safeASCII reports the ASCII bytes that need no escaping inside a JSON
// string.
var safeASCII = func() [utf8.RuneSelf]bool {
	var t [utf8.RuneSelf]bool
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s to dst as a quoted JSON string. Quotes,
// backslashes and control characters are escaped, invalid UTF-8 becomes
// U+FFFD, and U+2028/U+2029 are escaped as encoding/json does so a line is
// also safe to embed in JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s, false)
	return append(dst, '"')
}

// appendJSONStringBody appends the escaped body of s. With redactQuery, a
// '?' followed by a character that is neither a space nor a quote starts a
// query: it is kept, and what follows up to the next space or quote is
// dropped, so URLs quoted inside error texts cannot leak API keys.
func appendJSONStringBody(dst []byte, s string, redactQuery bool) []byte {
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
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

// appendMillis appends d in milliseconds with microsecond precision
// ("12.345"), without going through float formatting. Negative durations
// are written as 0.
func appendMillis(dst []byte, d time.Duration) []byte {
	us := int64(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	dst = strconv.AppendInt(dst, us/1000, 10)
	frac := us % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// truncate cuts s to at most n bytes without splitting a valid UTF-8
// sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// A rune that straddles the cut starts at most UTFMax-1 bytes before it.
	for j := n; j >= 0 && j > n-utf8.UTFMax; j-- {
		if !utf8.RuneStart(s[j]) {
			continue
		}
		if _, size := utf8.DecodeRuneInString(s[j:]); j < n && j+size > n {
			return s[:j]
		}
		break
	}
	return s[:n]
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }
