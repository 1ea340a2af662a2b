package forward

import (
	"net/http"
	"strings"
)

// RemoveCookie removes the cookie called name from h's Cookie lines, and
// a line it leaves empty: the gateway's own cookies (a split's sticky
// cookie) never reach an upstream.
func RemoveCookie(h http.Header, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var out []string
	changed := false
	for _, line := range lines {
		var kept []string
		for p := range strings.SplitSeq(line, ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if k, _, _ := strings.Cut(p, "="); k == name {
				changed = true
				continue
			}
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	switch {
	case !changed:
	case len(out) == 0:
		delete(h, "Cookie")
	default:
		h["Cookie"] = out
	}
}
