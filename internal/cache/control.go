package cache

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Directives are the Cache-Control directives of a response (RFC 9111
// section 5.2.2) that a shared cache acts on. A directive that appears more
// than once with different delta-seconds, or with an invalid value, makes
// the response stale (section 4.2.1): its age is set to zero.
type Directives struct {
	NoStore         bool
	NoCache         bool
	Private         bool
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	// MaxAge and SMaxAge are set when HasMaxAge and HasSMaxAge.
	MaxAge     time.Duration
	HasMaxAge  bool
	SMaxAge    time.Duration
	HasSMaxAge bool
	// StaleWhileRevalidate (RFC 5861) is set when HasSWR.
	StaleWhileRevalidate time.Duration
	HasSWR               bool
}

// maxDelta caps delta-seconds at 2^31 seconds, as RFC 9111 section 1.2.2
// lets a cache do.
const maxDelta = math.MaxInt32

// ParseCacheControl parses the Cache-Control field lines vs. Names are
// case-insensitive; unknown directives and extensions are ignored.
func ParseCacheControl(vs []string) Directives {
	var d Directives
	for _, v := range vs {
		for len(v) > 0 {
			var name, arg string
			name, arg, v = nextDirective(v)
			switch strings.ToLower(name) {
			case "no-store":
				d.NoStore = true
			case "no-cache":
				d.NoCache = true
			case "private":
				d.Private = true
			case "public":
				d.Public = true
			case "must-revalidate":
				d.MustRevalidate = true
			case "proxy-revalidate":
				d.ProxyRevalidate = true
			case "max-age":
				setDelta(&d.MaxAge, &d.HasMaxAge, arg)
			case "s-maxage":
				setDelta(&d.SMaxAge, &d.HasSMaxAge, arg)
			case "stale-while-revalidate":
				setDelta(&d.StaleWhileRevalidate, &d.HasSWR, arg)
			}
		}
	}
	return d
}

// setDelta records a delta-seconds argument; an invalid or conflicting one
// leaves zero.
func setDelta(dst *time.Duration, has *bool, arg string) {
	n, ok := deltaSeconds(arg)
	switch {
	case !ok:
		*dst = 0
	case *has && *dst != n:
		*dst = 0
	default:
		*dst = n
	}
	*has = true
}

// deltaSeconds parses delta-seconds (RFC 9111 section 1.2.2): digits only,
// capped at 2^31.
func deltaSeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, maxDelta)) * time.Second, true
}

// nextDirective splits the first directive off s: its name, its argument
// (unquoted) and the rest after the comma that ends it.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.TrimSpace(s), "", ""
	}
	name = strings.TrimSpace(s[:i])
	if s[i] == ',' {
		return name, "", s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		// quoted-string (RFC 9110 section 5.6.4), with quoted-pairs.
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		rest = s[min(j+1, len(s)):]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k+1:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, strings.TrimSpace(s[:k]), s[k+1:]
	}
	return name, strings.TrimSpace(s), ""
}

// formatSeconds formats d in whole seconds, for the Age header.
func formatSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(max(d, 0)/time.Second), 10)
}
