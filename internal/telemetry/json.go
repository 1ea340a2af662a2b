package telemetry

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/jsonstr"
)

// The access log encodes by hand: encoding/json would cost reflection and
// allocations per line, and strconv.Quote is Go syntax, not JSON (it writes
// \x00 and \U0001f600 forms that JSON parsers reject).

// appendJSONString appends s to dst as a quoted JSON string.
func appendJSONString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

// appendJSONStringBody appends the escaped inside of a JSON string for s,
// dropping URL queries when redactQuery is set (see jsonstr.AppendContent).
func appendJSONStringBody(dst []byte, s string, redactQuery bool) []byte {
	return jsonstr.AppendContent(dst, s, redactQuery)
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
