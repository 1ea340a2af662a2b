package router

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// bucket holds the routes of one host key: an exact host, a wildcard, or
// "any" for routes that name no host. Within a bucket, exact paths are tried
// first, then patterns, then prefixes.
type bucket struct {
	name     string          // "api.example.com", "*.example.com" or "(any)"
	exact    edges[[]*Route] // static patterns by path
	params   *pnode          // patterns with parameters; nil when none
	prefixes *xnode          // path prefixes; nil when none
}

// pnode is a node of the segment trie of patterns. A node at depth d
// consumes the path's d-th segment, so a lookup visits each node at most
// once whatever the backtracking.
type pnode struct {
	lit      edges[*pnode] // literal segments
	param    *pnode        // {name}
	routes   []*Route      // patterns that end at this node
	catchAll []*Route      // patterns whose next and last segment is {name...}
}

// xnode is a node of the segment trie of prefixes.
type xnode struct {
	lit   edges[*xnode]
	plain []*Route // prefixes that end here: "/orders"
	slash []*Route // prefixes that end here with a slash: "/orders/"
}

// edges maps a node's literal segments to its children. Most nodes of a
// large table have one child or a few ("/svc7" has "users"), so up to
// fewEdges children live in a short slice that a lookup scans: a Go map
// costs more than 200 bytes even for one entry. Beyond that, a map.
type edges[N any] struct {
	few  []edge[N]
	many map[string]N
}

type edge[N any] struct {
	seg   string
	child N
}

const fewEdges = 8

func (e *edges[N]) get(seg string) (N, bool) {
	if e.many != nil {
		n, ok := e.many[seg]
		return n, ok
	}
	for i := range e.few {
		if e.few[i].seg == seg {
			return e.few[i].child, true
		}
	}
	var zero N
	return zero, false
}

func (e *edges[N]) put(seg string, child N) {
	if e.many == nil && len(e.few) < fewEdges {
		e.few = append(e.few, edge[N]{seg, child})
		return
	}
	if e.many == nil {
		e.many = make(map[string]N, 2*fewEdges)
		for _, ed := range e.few {
			e.many[ed.seg] = ed.child
		}
		e.few = nil
	}
	e.many[seg] = child
}

// set is put for a segment that may have a child already: it replaces it.
func (e *edges[N]) set(seg string, child N) {
	if e.many != nil {
		e.many[seg] = child
		return
	}
	for i := range e.few {
		if e.few[i].seg == seg {
			e.few[i].child = child
			return
		}
	}
	e.put(seg, child)
}

// all yields the edges in no particular order.
func (e *edges[N]) all(yield func(string, N) bool) {
	for _, ed := range e.few {
		if !yield(ed.seg, ed.child) {
			return
		}
	}
	for seg, c := range e.many {
		if !yield(seg, c) {
			return
		}
	}
}

// keys yields the segments, for sorting.
func (e *edges[N]) keys(yield func(string) bool) {
	for seg := range e.all {
		if !yield(seg) {
			return
		}
	}
}

// matcher carries one lookup's request data down the tries. It lives on the
// caller's stack.
type matcher struct {
	r       *http.Request
	method  string
	version string
	// pathHit records that some route matched all but the method, which
	// turns a miss into a 405.
	pathHit bool
	// collect makes pick gather allowed methods instead of choosing.
	collect bool
	allow   []string
	// vals holds the parameter values of the pattern branch being walked
	// (pnode.match), in the pattern's order: MatchBuf's buffer, to its
	// capacity. nvals counts them, also past len(vals), when MatchBuf
	// then parses the chosen pattern again instead (Pattern.fill).
	vals  []pipeline.Param
	nvals int
}

type allowKind uint8

const (
	allowNone     allowKind = iota
	allowExplicit           // the route lists the method, or lists none (TRACE aside)
	allowImplied            // HEAD on a GET route
)

func (rt *Route) allows(method string) allowKind {
	if len(rt.Methods) == 0 {
		if method == http.MethodTrace {
			// TRACE echoes the request, credentials included, back to
			// scripts (cross-site tracing): only a route naming it serves
			// it, and configuration refuses to name it.
			return allowNone
		}
		return allowExplicit
	}
	for _, m := range rt.Methods {
		if m == method {
			return allowExplicit
		}
	}
	if rt.get && method == http.MethodHead {
		return allowImplied
	}
	return allowNone
}

func (rt *Route) headersMatch(r *http.Request) bool {
	if len(rt.Headers) == 0 {
		return true
	}
	if r == nil {
		return false
	}
	for _, h := range rt.Headers {
		vals := r.Header[h.Name]
		if len(vals) == 0 || vals[0] != h.Value {
			return false
		}
	}
	return true
}

// pick returns the first candidate that serves the request. Candidates are
// sorted by precedence; a route listing the method beats one that serves
// HEAD because it serves GET.
func (m *matcher) pick(cands []*Route) *Route {
	var implied *Route
	for _, rt := range cands {
		if rt.Version != "" && rt.Version != m.version || !rt.headersMatch(m.r) {
			continue
		}
		switch rt.allows(m.method) {
		case allowExplicit:
			if !m.collect {
				return rt
			}
		case allowImplied:
			if implied == nil && !m.collect {
				implied = rt
			}
		default:
			m.pathHit = true
			if m.collect {
				for _, meth := range rt.allowed() {
					if !slices.Contains(m.allow, meth) {
						m.allow = append(m.allow, meth)
					}
				}
			}
		}
	}
	return implied
}

// Match finds the route for a request. host is the request's host,
// lowercased, without port (for an absolute-form target, the target's);
// path is the canonical path. r supplies the method, the headers for header
// matches and versions, and the query for a query version; Match does not
// retain it.
//
// Precedence: a route naming the host exactly beats one naming a wildcard
// for it, a longer wildcard beats a shorter, and any of those beats a route
// that names no host. Within those, an exact path beats a pattern, which
// beats a prefix; among patterns, at each segment a literal beats {param},
// which beats {name...}; among prefixes the longer wins. Among routes with
// the same path a route naming a version beats one that does not, a route
// with more header matches beats one with fewer, and otherwise
// configuration order decides.
//
// Match does not allocate for a static or prefix route and allocates only
// the Params slice for a pattern route (MatchBuf avoids even that). It is
// safe for concurrent use.
func (t *Table) Match(r *http.Request, host, path string) Result {
	return t.MatchBuf(r, host, path, nil)
}

// MatchBuf is Match with the caller's storage for Params: when buf has the
// capacity, Params is buf[:n] and Match allocates nothing.
func (t *Table) MatchBuf(r *http.Request, host, path string, buf []pipeline.Param) Result {
	m := matcher{r: r, vals: buf[:cap(buf)]}
	if r != nil {
		m.method = r.Method
	}
	res := Result{Path: path}
	if t.ver != nil {
		res.Version, res.Path = t.ver.extract(r, path)
		m.version = res.Version
	}
	if res.Path == "" || res.Path[0] != '/' {
		res.Status = http.StatusNotFound
		return res
	}
	host = lowerASCII(strings.TrimSuffix(host, "."))
	if rt := t.lookup(&m, host, res.Path); rt != nil {
		res.Route = rt
		if rt.Pattern != nil && rt.Pattern.n > 0 {
			n := rt.Pattern.n
			kept := cap(buf) >= n
			if kept {
				res.Params = buf[:n]
			} else {
				res.Params = make([]pipeline.Param, n)
			}
			rt.Pattern.fill(res.Params, m.nvals, kept, res.Path)
		}
		return res
	}
	if !m.pathHit {
		res.Status = http.StatusNotFound
		return res
	}
	// A miss with a method mismatch is rare: walk again to gather what the
	// matching routes allow.
	m.collect = true
	t.lookup(&m, host, res.Path)
	slices.Sort(m.allow)
	res.Status = http.StatusMethodNotAllowed
	res.Allow = strings.Join(m.allow, ", ")
	return res
}

// lookup tries the host buckets in precedence order.
func (t *Table) lookup(m *matcher, host, path string) *Route {
	if b := t.hosts[host]; b != nil {
		if rt := b.match(m, path); rt != nil {
			return rt
		}
	}
	if len(t.wild) > 0 {
		// Left to right, so the longest wildcard suffix comes first; i > 0
		// keeps "*.example.com" from matching "example.com" itself.
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if b := t.wild[host[i:]]; b != nil {
				if rt := b.match(m, path); rt != nil {
					return rt
				}
			}
		}
	}
	if t.any != nil {
		return t.any.match(m, path)
	}
	return nil
}

func (b *bucket) match(m *matcher, path string) *Route {
	if cands, _ := b.exact.get(path); len(cands) > 0 {
		if rt := m.pick(cands); rt != nil {
			return rt
		}
	}
	if b.params != nil {
		if rt := b.params.match(m, path, 1); rt != nil {
			return rt
		}
	}
	if b.prefixes != nil {
		return b.prefixes.match(m, path, 0)
	}
	return nil
}

// match looks up path[start:], where start follows a "/".
func (n *pnode) match(m *matcher, path string, start int) *Route {
	end := strings.IndexByte(path[start:], '/')
	last := end < 0
	if last {
		end = len(path)
	} else {
		end += start
	}
	seg := path[start:end]
	if c, ok := n.lit.get(seg); ok {
		if rt := c.next(m, path, end, last); rt != nil {
			return rt
		}
	}
	if n.param != nil && seg != "" {
		k := m.nvals
		if k < len(m.vals) {
			m.vals[k].Value = seg
		}
		m.nvals = k + 1
		if rt := n.param.next(m, path, end, last); rt != nil {
			return rt
		}
		m.nvals = k
	}
	if len(n.catchAll) > 0 && start < len(path) {
		rt := m.pick(n.catchAll)
		if rt != nil {
			if k := m.nvals; k < len(m.vals) {
				m.vals[k].Value = path[start:]
			}
			m.nvals++
		}
		return rt
	}
	return nil
}

func (n *pnode) next(m *matcher, path string, end int, last bool) *Route {
	if last {
		return m.pick(n.routes)
	}
	return n.match(m, path, end+1)
}

// match looks up path, of which path[:pos] matched this node's prefix; pos
// is len(path) or the index of a "/". Deeper nodes are tried first so the
// longest prefix wins.
func (n *xnode) match(m *matcher, path string, pos int) *Route {
	if pos < len(path) {
		start := pos + 1
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		if c, ok := n.lit.get(path[start:end]); ok {
			if rt := c.match(m, path, end); rt != nil {
				return rt
			}
		}
		if rt := m.pick(n.slash); rt != nil {
			return rt
		}
	}
	return m.pick(n.plain)
}

// insert adds rt to the bucket.
func (b *bucket) insert(rt *Route) {
	switch {
	case rt.Pattern == nil:
		if b.prefixes == nil {
			b.prefixes = &xnode{}
		}
		n := b.prefixes
		for _, seg := range rt.fwd.prefix.segs {
			c, ok := n.lit.get(seg)
			if !ok {
				c = &xnode{}
				n.lit.put(seg, c)
			}
			n = c
		}
		if rt.fwd.prefix.slash {
			n.slash = append(n.slash, rt)
		} else {
			n.plain = append(n.plain, rt)
		}
	case rt.Pattern.Static():
		// A host's bucket mostly has a path or a few: a short list
		// instead of a map, as for the tries' edges.
		p := rt.Pattern.String()
		rs, _ := b.exact.get(p)
		b.exact.set(p, append(rs, rt))
	default:
		if b.params == nil {
			b.params = &pnode{}
		}
		n := b.params
		for i, sg := range rt.Pattern.segs {
			last := i == len(rt.Pattern.segs)-1
			switch sg.kind {
			case segCatchAll:
				n.catchAll = append(n.catchAll, rt)
				continue
			case segParam:
				if n.param == nil {
					n.param = &pnode{}
				}
				n = n.param
			default:
				c, ok := n.lit.get(sg.text)
				if !ok {
					c = &pnode{}
					n.lit.put(sg.text, c)
				}
				n = c
			}
			if last {
				n.routes = append(n.routes, rt)
			}
		}
	}
}

// sort orders every candidate list by precedence: version-specific first,
// then more header matches, then configuration order.
func (b *bucket) sort() {
	for _, rs := range b.exact.all {
		sortCandidates(rs)
	}
	var walkP func(*pnode)
	walkP = func(n *pnode) {
		sortCandidates(n.routes)
		sortCandidates(n.catchAll)
		for _, c := range n.lit.all {
			walkP(c)
		}
		if n.param != nil {
			walkP(n.param)
		}
	}
	if b.params != nil {
		walkP(b.params)
	}
	var walkX func(*xnode)
	walkX = func(n *xnode) {
		sortCandidates(n.plain)
		sortCandidates(n.slash)
		for _, c := range n.lit.all {
			walkX(c)
		}
	}
	if b.prefixes != nil {
		walkX(b.prefixes)
	}
}

func sortCandidates(rs []*Route) {
	slices.SortStableFunc(rs, func(a, b *Route) int {
		if (a.Version != "") != (b.Version != "") {
			if a.Version != "" {
				return -1
			}
			return 1
		}
		if len(a.Headers) != len(b.Headers) {
			return len(b.Headers) - len(a.Headers)
		}
		return a.Index - b.Index
	})
}
