package router

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Route is one compiled entry of the configuration's routes. Its fields are
// set by Compile and must not be changed afterwards: a Route is shared by
// every request of its table's generation.
type Route struct {
	// Name is the route's name from the configuration.
	Name string
	// Index is the route's position in the configuration's routes list.
	Index int
	// Config is the route's configuration. Read only.
	Config *config.Route

	// Pattern is the parsed match.path; nil for a prefix route.
	Pattern *Pattern
	// Hosts are match.hosts lowercased, without duplicates; empty matches
	// any host.
	Hosts []string
	// Methods are the accepted methods in configuration order; empty
	// accepts every method but TRACE. A route that accepts GET also serves
	// HEAD. Routes listing the same methods share one slice.
	Methods []string
	// Headers are the header matches, names canonical, sorted by name.
	Headers []HeaderMatch
	// Version is the API version the route serves, lowercase; "" serves
	// every version.
	Version string

	// fwd is what only prefix routes and routes that change the
	// forwarded path need, nil for the others: most routes of a large
	// table are neither, and a pointer costs them 8 bytes where the
	// fields would cost 56.
	fwd *forward
	get bool // Methods has GET, so HEAD is served too
}

// forward holds a route's prefix and its forwarded-path change.
type forward struct {
	prefix  prefix    // match.path_prefix, parsed; zero for a path route
	rewrite *template // compiled Config.Rewrite
	strip   string    // Config.StripPrefix without trailing slash; "" for none
}

// Prefix returns match.path_prefix in canonical form; "" for a path route.
func (rt *Route) Prefix() string {
	if rt.Pattern != nil || rt.fwd == nil {
		return ""
	}
	return rt.fwd.prefix.String()
}

// HeaderMatch is a header a request must carry with exactly this value.
// Only the header's first value is compared, as http.Header.Get reads it.
type HeaderMatch struct {
	Name  string // canonical, as in http.CanonicalHeaderKey
	Value string
}

// Result is the outcome of Table.Match.
type Result struct {
	// Route is the matched route; nil unless Status is 0.
	Route *Route
	// Params are the route's path parameters in pattern order; nil for a
	// static or prefix route. Values are substrings of the canonical path.
	Params []pipeline.Param
	// Path is the path that was matched: the canonical path without the
	// version segment when the version came from the path.
	Path string
	// Version is the request's API version, lowercase; "" without a
	// versioning section.
	Version string
	// Status is 0 when a route matched, else 404 or 405.
	Status int
	// Allow lists, for a 405, the methods that the routes matching the
	// request's host, path, version and headers accept: sorted, joined by
	// ", ", with HEAD wherever GET is.
	Allow string
}

// Table is a compiled, immutable set of routes. It is safe for concurrent
// use; the server swaps whole tables on reload.
type Table struct {
	routes []*Route
	ver    *versioning

	hosts map[string]*bucket // exact host names
	wild  map[string]*bucket // wildcard hosts, keyed by suffix: ".example.com"
	any   *bucket            // routes that name no host
	order []*bucket          // every bucket in match order, for String
}

// Routes returns the routes in configuration order. The slice is a copy;
// the routes are shared and must not be modified.
func (t *Table) Routes() []*Route { return slices.Clone(t.routes) }

// Len returns the number of routes.
func (t *Table) Len() int { return len(t.routes) }

// anyMethod is what a route listing no methods answers in Allow: the
// methods it serves, which are all but TRACE (and CONNECT, which the
// server refuses before routing), as far as a list can say.
var anyMethod = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// allowed lists the methods rt serves, HEAD included where GET is. The
// result must not be modified.
func (rt *Route) allowed() []string {
	if len(rt.Methods) == 0 {
		return anyMethod
	}
	ms := slices.Clone(rt.Methods)
	if rt.get && !slices.Contains(ms, "HEAD") {
		ms = append(ms, "HEAD")
	}
	return ms
}

// String describes the route on one line, for dumps and logs.
func (rt *Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "routes[%d] %s:", rt.Index, rt.Name)
	if len(rt.Hosts) > 0 {
		fmt.Fprintf(&b, " hosts=%s", strings.Join(rt.Hosts, ","))
	}
	if rt.Pattern != nil {
		fmt.Fprintf(&b, " path=%s", rt.Pattern)
	} else {
		fmt.Fprintf(&b, " prefix=%s", rt.Prefix())
	}
	if len(rt.Methods) > 0 {
		fmt.Fprintf(&b, " methods=%s", strings.Join(rt.Methods, ","))
	}
	for _, h := range rt.Headers {
		fmt.Fprintf(&b, " header[%s]=%q", h.Name, h.Value)
	}
	if rt.Version != "" {
		fmt.Fprintf(&b, " version=%s", rt.Version)
	}
	if f := rt.fwd; f != nil && f.rewrite != nil {
		fmt.Fprintf(&b, " rewrite=%s", f.rewrite.raw)
	}
	if f := rt.fwd; f != nil && f.strip != "" {
		fmt.Fprintf(&b, " strip_prefix=%s", f.strip)
	}
	return b.String()
}

// String dumps the compiled table: the versioning, the routes in
// configuration order, then each host bucket in match order with its exact
// paths, patterns and prefixes, each listing candidate routes in the order
// they are tried. Golden tests compare it.
func (t *Table) String() string {
	var b strings.Builder
	if t.ver != nil {
		src := make([]string, len(t.ver.from))
		for i, s := range t.ver.from {
			src[i] = s.String()
		}
		fmt.Fprintf(&b, "versioning: from=%s default=%q\n", strings.Join(src, ","), t.ver.def)
	}
	b.WriteString("routes:\n")
	for _, rt := range t.routes {
		fmt.Fprintf(&b, "  %s\n", rt)
	}
	for _, bk := range t.order {
		fmt.Fprintf(&b, "host %s:\n", bk.name)
		for _, p := range slices.Sorted(bk.exact.keys) {
			rs, _ := bk.exact.get(p)
			fmt.Fprintf(&b, "  exact   %s -> %s\n", p, names(rs))
		}
		if bk.params != nil {
			bk.params.dump(&b, "")
		}
		if bk.prefixes != nil {
			bk.prefixes.dump(&b, "")
		}
	}
	return b.String()
}

func (n *pnode) dump(b *strings.Builder, at string) {
	if len(n.routes) > 0 {
		fmt.Fprintf(b, "  pattern %s -> %s\n", at, names(n.routes))
	}
	for _, k := range slices.Sorted(n.lit.keys) {
		c, _ := n.lit.get(k)
		c.dump(b, at+"/"+k)
	}
	if n.param != nil {
		n.param.dump(b, at+"/{}")
	}
	if len(n.catchAll) > 0 {
		fmt.Fprintf(b, "  pattern %s -> %s\n", at+"/{...}", names(n.catchAll))
	}
}

// dump lists prefixes deepest first, the order they are tried in.
func (n *xnode) dump(b *strings.Builder, at string) {
	for _, k := range slices.Sorted(n.lit.keys) {
		c, _ := n.lit.get(k)
		c.dump(b, at+"/"+k)
	}
	if len(n.slash) > 0 {
		fmt.Fprintf(b, "  prefix  %s/ -> %s\n", at, names(n.slash))
	}
	if len(n.plain) > 0 {
		fmt.Fprintf(b, "  prefix  %s -> %s\n", at, names(n.plain))
	}
}

func names(rs []*Route) string {
	s := make([]string, len(rs))
	for i, rt := range rs {
		s[i] = rt.Name
	}
	return strings.Join(s, " ")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
