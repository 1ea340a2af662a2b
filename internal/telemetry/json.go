package telemetry

import (
	"strconv"
	"sync/atomic"
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

// appendTime appends t in UTC as time.RFC3339Nano writes it
// ("2026-12-06T17:04:54.9058422Z": the fraction without trailing zeros,
// none when it is zero). The date and clock of the second are formatted
// once per second and kept (lastSecond); the fraction is written here.
// Lines of one second share the prefix, which was most of a line's
// formatting cost.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	p := lastSecond.Load()
	if p == nil || p.unix != sec {
		p = &secondText{unix: sec}
		p.text = t.Truncate(time.Second).AppendFormat(p.text[:0], "2006-01-02T15:04:05")
		lastSecond.Store(p)
	}
	dst = append(dst, p.text...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// secondText is one second's date and clock as appendTime writes them.
type secondText struct {
	unix int64
	text []byte
}

var lastSecond atomic.Pointer[secondText]

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
