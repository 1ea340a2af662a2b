package cache

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Policy is a route's cache settings, as the route's configuration gives
// them.
type Policy struct {
	// TTL is the freshness lifetime of an answer whose upstream gives
	// none: the gateway's heuristic (RFC 9111 section 4.2.2), only for
	// heuristically cacheable statuses and answers marked public.
	TTL time.Duration
	// StaleWhileRevalidate applies when the upstream's Cache-Control has
	// no stale-while-revalidate of its own.
	StaleWhileRevalidate time.Duration
	// MaxBody is the largest body stored, in bytes.
	MaxBody int64
}

// heuristic lists the statuses RFC 9110 section 15.1 defines as
// heuristically cacheable; other statuses need an explicit lifetime.
var heuristic = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// unstored are headers never kept in an entry: the gateway's own per-answer
// headers, set again on every answer.
var unstored = []string{"Age", "X-Cache", "X-Request-Id"}

// exchange is what the cache knows of one upstream answer besides its
// status and header: when it was asked and received, and whether the
// request carried credentials the cache is not keyed by.
type exchange struct {
	requested, received time.Time
	// authorized is a request with an Authorization header whose entry is
	// not keyed by its consumer (RFC 9111 section 3.5).
	authorized bool
	route      string
	path       string
}

// newEntry returns the entry a shared cache may store for an answer with
// status, header and body, or false when RFC 9111 (section 3) or the
// gateway's own rules forbid storing it:
//   - partial (206) and not-modified (304) answers, no-store, private;
//   - answers to requests with credentials the entry is not keyed by,
//     unless public, s-maxage or must-revalidate allow it (section 3.5);
//   - Set-Cookie answers (one client's cookie must not reach another),
//     Vary: *, event streams and answers with trailers;
//   - answers with no freshness lifetime and no validator to revalidate.
func newEntry(status int, h http.Header, body []byte, x exchange, p Policy) (*Entry, bool) {
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return nil, false
	}
	cc := ParseCacheControl(h["Cache-Control"])
	if cc.NoStore || cc.Private {
		return nil, false
	}
	if x.authorized && !cc.Public && !cc.MustRevalidate && !cc.HasSMaxAge {
		return nil, false
	}
	if _, ok := h["Set-Cookie"]; ok {
		return nil, false
	}
	if _, ok := h["Trailer"]; ok {
		return nil, false
	}
	vary, ok := varyNames(h["Vary"])
	if !ok {
		return nil, false
	}
	if ct := h.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "text/event-stream") {
		return nil, false
	}
	lifetime, explicit := freshness(cc, h, x.received)
	if !explicit && (heuristic[status] || cc.Public) {
		lifetime = p.TTL
	}
	if cc.NoCache {
		// Stored, but revalidated before every use (section 5.2.2.4).
		lifetime = 0
	}
	e := &Entry{
		Status:         status,
		Header:         storedHeader(h),
		Body:           body,
		Stored:         x.received,
		InitialAge:     initialAge(h, x.requested, x.received),
		Lifetime:       lifetime,
		MustRevalidate: cc.MustRevalidate || cc.ProxyRevalidate || cc.HasSMaxAge || cc.NoCache,
		Vary:           vary,
		Route:          x.route,
		Path:           x.path,
	}
	if lifetime <= 0 && !e.validators() {
		return nil, false
	}
	if !e.MustRevalidate {
		e.Stale = p.StaleWhileRevalidate
		if cc.HasSWR {
			e.Stale = cc.StaleWhileRevalidate
		}
	}
	return e, true
}

// freshness returns the explicit freshness lifetime (section 4.2.1):
// s-maxage, else max-age, else Expires minus Date. An Expires that is not
// a valid date means already expired.
func freshness(cc Directives, h http.Header, received time.Time) (time.Duration, bool) {
	switch {
	case cc.HasSMaxAge:
		return cc.SMaxAge, true
	case cc.HasMaxAge:
		return cc.MaxAge, true
	}
	exp, ok := h["Expires"]
	if !ok {
		return 0, false
	}
	if len(exp) != 1 {
		return 0, true
	}
	t, err := http.ParseTime(exp[0])
	if err != nil {
		return 0, true
	}
	date := received
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	return max(t.Sub(date), 0), true
}

// initialAge is the corrected initial age of an answer (section 4.2.3).
func initialAge(h http.Header, requested, received time.Time) time.Duration {
	var apparent time.Duration
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		apparent = max(received.Sub(d), 0)
	}
	corrected := received.Sub(requested)
	if a, ok := deltaSeconds(strings.TrimSpace(h.Get("Age"))); ok {
		corrected += a
	}
	return max(apparent, corrected)
}

// varyNames returns the canonical, sorted request header names of the Vary
// field lines, or false for Vary: *.
func varyNames(vs []string) ([]string, bool) {
	var names []string
	for _, v := range vs {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			switch f {
			case "":
				continue
			case "*":
				return nil, false
			}
			names = append(names, http.CanonicalHeaderKey(f))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), true
}

// storedHeader copies h without the headers an entry never keeps.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, k := range unstored {
		delete(out, k)
	}
	return out
}

// refreshed returns the entry e updated by a 304 answer's header h (RFC
// 9111 section 4.3.4): its fields replace the stored ones, Content-Length
// aside, and its freshness is computed anew. False when the update makes
// the answer one that may not be stored.
func refreshed(e *Entry, h http.Header, x exchange, p Policy) (*Entry, bool) {
	merged := e.Header.Clone()
	for k, vs := range h {
		if k == "Content-Length" {
			continue
		}
		merged[k] = vs
	}
	return newEntry(e.Status, merged, e.Body, x, p)
}
