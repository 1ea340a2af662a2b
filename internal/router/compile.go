package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
)

// BuildFunc builds what serves one route (its plugins chained in front of
// its terminal) and keeps it by rt.Index: the table holds only what the
// router matches. When the route's match has problems, the compiled match
// fields of rt may be zero, but build is still called so that every
// problem is reported at once.
//
// An error is reported at "routes[i]". A config.Problems error is taken as
// is, its problems' paths being full key paths ("" meaning "routes[i]").
type BuildFunc func(rc *config.Route, rt *Route) error

// Compile compiles cfg.Routes, with cfg.Versioning, into a Table, calling
// build (which may be nil) for each route. On failure
// it returns every problem as config.Problems, each with its key path
// ("routes[3].match.path") and line, and no table.
//
// Compile checks what only the router knows: pattern, prefix, rewrite and
// host syntax, versioning sources, and routes that duplicate an earlier one
// so that they could never be chosen. It does no I/O and starts no
// goroutines, so "gantry validate" can run it and throw the table away.
func Compile(cfg *config.Config, build BuildFunc) (*Table, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	var ps config.Problems
	t := &Table{ver: compileVersioning(cfg, &ps)}
	lists := lists{}
	for i, rc := range cfg.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		if rc == nil {
			ps = append(ps, cfg.Problem(at, "empty route"))
			continue
		}
		rt, ok := compileRoute(cfg, at, i, rc, t.ver, lists, &ps)
		if build != nil {
			if err := build(rc, rt); err != nil {
				ps = append(ps, buildProblems(cfg, at, err)...)
			}
		}
		if ok {
			t.routes = append(t.routes, rt)
		}
	}
	ps = append(ps, duplicates(cfg, t.routes)...)
	if len(ps) > 0 {
		return nil, ps
	}
	t.index()
	return t, nil
}

func buildProblems(cfg *config.Config, at string, err error) config.Problems {
	var bps config.Problems
	if !errors.As(err, &bps) {
		return config.Problems{cfg.Problem(at, "%s", err)}
	}
	out := make(config.Problems, len(bps))
	for i, p := range bps {
		if p.Path == "" {
			p.Path = at
		}
		if p.File == "" {
			p.File = cfg.FileOf(p.Path)
			if p.Line == 0 {
				p.Line = cfg.Line(p.Path)
			}
			p.Path = cfg.LocalPath(p.Path)
		}
		if p.Line == 0 {
			p.Line = cfg.Line(p.Path)
		}
		out[i] = p
	}
	return out
}

// compileRoute compiles one route's match, rewrite and strip_prefix,
// appending problems to ps. ok is false when the route cannot be indexed.
func compileRoute(cfg *config.Config, at string, i int, rc *config.Route, ver *versioning, lists lists, ps *config.Problems) (rt *Route, ok bool) {
	rt = &Route{Name: rc.Name, Index: i, Config: rc}
	n := len(*ps)
	add := func(path, format string, args ...any) {
		*ps = append(*ps, cfg.Problem(path, format, args...))
	}
	m := &rc.Match
	pathOK := false
	switch {
	case m.Path != "" && m.PathPrefix != "":
		add(at+".match", "path and path_prefix exclude each other; set one")
	case m.Path != "":
		p, err := parsePattern(m.Path)
		if err != nil {
			add(at+".match.path", "%s", err)
			break
		}
		rt.Pattern, pathOK = p, true
	case m.PathPrefix != "":
		px, err := parsePrefix("path_prefix", m.PathPrefix)
		if err != nil {
			add(at+".match.path_prefix", "%s", err)
			break
		}
		rt.fwd, pathOK = &forward{prefix: px}, true
	default:
		add(at+".match", "one of path or path_prefix is required")
	}
	if first := leadingLiteral(rt); pathOK && ver.fromPath() {
		if _, _, isVer := pathVersion("/" + first); isVer {
			key := at + ".match.path"
			if rt.Pattern == nil {
				key = at + ".match.path_prefix"
			}
			// The route could never match: the segment is gone by then.
			add(key, "starts with the version segment %q, which is removed before matching because versioning.from has path; use match.version: %s", "/"+first, lowerASCII(first))
		}
	}

	for j, h := range m.Hosts {
		norm, err := parseHost(h)
		if err != nil {
			add(fmt.Sprintf("%s.match.hosts[%d]", at, j), "%s", err)
			continue
		}
		if !slices.Contains(rt.Hosts, norm) {
			rt.Hosts = append(rt.Hosts, norm)
		}
	}
	rt.Hosts = lists.share(rt.Hosts)

	for j, meth := range m.Methods {
		if !isToken(meth) {
			add(fmt.Sprintf("%s.match.methods[%d]", at, j), "invalid method %q", meth)
			continue
		}
		if !slices.Contains(rt.Methods, meth) {
			rt.Methods = append(rt.Methods, meth)
		}
	}
	rt.Methods = lists.share(rt.Methods)
	rt.get = slices.Contains(rt.Methods, "GET")

	for _, name := range slices.Sorted(mapKeys(m.Headers)) {
		if !isToken(name) {
			add(at+".match.headers."+name, "invalid header name %q", name)
			continue
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if k := slices.IndexFunc(rt.Headers, func(h HeaderMatch) bool { return h.Name == canon }); k >= 0 {
			add(at+".match.headers."+name, "header %q is listed twice (header names are case-insensitive)", canon)
			continue
		}
		rt.Headers = append(rt.Headers, HeaderMatch{Name: canon, Value: m.Headers[name]})
	}
	slices.SortFunc(rt.Headers, func(a, b HeaderMatch) int { return cmp.Compare(a.Name, b.Name) })

	if v := strings.TrimSpace(m.Version); v != "" {
		if ver == nil {
			add(at+".match.version", "needs a versioning section that says where versions come from")
		}
		rt.Version = lowerASCII(v)
	}

	switch {
	case rc.Rewrite != "" && rc.StripPrefix != "":
		add(at+".rewrite", "rewrite and strip_prefix exclude each other; set one")
	case rc.Rewrite != "" && pathOK:
		tpl, err := parseTemplate(rc.Rewrite, rt.Pattern)
		if err != nil {
			add(at+".rewrite", "%s", err)
			break
		}
		rt.fwdOf().rewrite = tpl
	case rc.StripPrefix != "":
		strip, err := parseStrip(rc.StripPrefix)
		if err != nil {
			add(at+".strip_prefix", "%s", err)
			break
		}
		if pathOK && strip != "" && !stripApplies(rt, strip) {
			add(at+".strip_prefix", "%q never applies: no path the route matches starts with it", rc.StripPrefix)
		}
		if strip != "" {
			rt.fwdOf().strip = strip
		}
	}
	return rt, pathOK && len(*ps) == n
}

// leadingLiteral returns the first segment of the route's path when it is
// literal, else "".
func leadingLiteral(rt *Route) string {
	switch {
	case rt.Pattern != nil:
		return rt.Pattern.leading()
	case rt.fwd != nil && len(rt.fwd.prefix.segs) > 0:
		return rt.fwd.prefix.segs[0]
	}
	return ""
}

// fwdOf returns rt.fwd, creating it.
func (rt *Route) fwdOf() *forward {
	if rt.fwd == nil {
		rt.fwd = &forward{}
	}
	return rt.fwd
}

// lists lets routes with the same methods (or hosts) share one slice: a
// large table lists few distinct ones. The key is the list joined by NUL,
// which neither methods nor hosts contain.
type lists map[string][]string

func (l lists) share(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	k := strings.Join(s, "\x00")
	if v, ok := l[k]; ok {
		return v
	}
	s = slices.Clip(s)
	l[k] = s
	return s
}

// stripApplies reports whether strip could apply to some path rt matches.
// Patterns with parameters are given the benefit of the doubt.
func stripApplies(rt *Route, strip string) bool {
	if rt.Pattern != nil {
		return !rt.Pattern.Static() || hasSegmentPrefix(rt.Pattern.String(), strip)
	}
	pre := "/" + strings.Join(rt.fwd.prefix.segs, "/")
	// Either the prefix starts with strip (always applies) or strip
	// starts with the prefix (applies to the longer paths).
	return hasSegmentPrefix(pre, strip) || hasSegmentPrefix(strip, pre)
}

// isToken reports whether s is an RFC 9110 token, the syntax of methods and
// header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// duplicates finds routes that an earlier route shadows for some method:
// same path (or pattern shape, or prefix), same version, same header
// matches, a shared host (or both naming none) and overlapping methods.
// The later route would never be chosen for those methods, which is
// never what the author meant.
func duplicates(cfg *config.Config, routes []*Route) config.Problems {
	var ps config.Problems
	groups := map[string][]*Route{}
	for _, rt := range routes {
		var key strings.Builder
		if rt.Pattern != nil {
			key.WriteString("path " + rt.Pattern.shape())
		} else {
			key.WriteString("prefix " + rt.Prefix())
		}
		key.WriteString("\x00" + rt.Version)
		for _, h := range rt.Headers {
			key.WriteString("\x00" + h.Name + "\x00" + h.Value)
		}
		k := key.String()
		for _, prev := range groups[k] {
			if !hostsOverlap(prev.Hosts, rt.Hosts) {
				continue
			}
			if shared, ok := methodsOverlap(prev.Methods, rt.Methods); ok {
				ps = append(ps, cfg.Problem(fmt.Sprintf("routes[%d].match", rt.Index),
					"route %q is never chosen for %s: route %q (routes[%d]) comes first with the same hosts, path, version and headers",
					rt.Name, shared, prev.Name, prev.Index))
				break
			}
		}
		groups[k] = append(groups[k], rt)
	}
	return ps
}

func hostsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	for _, h := range a {
		if slices.Contains(b, h) {
			return true
		}
	}
	return false
}

// methodsOverlap reports whether two method lists share a method, and
// which ones, for the message.
func methodsOverlap(a, b []string) (string, bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return "any method", true
	case len(a) == 0:
		return strings.Join(b, ", "), true
	case len(b) == 0:
		return strings.Join(a, ", "), true
	}
	var shared []string
	for _, m := range b {
		if slices.Contains(a, m) {
			shared = append(shared, m)
		}
	}
	return strings.Join(shared, ", "), len(shared) > 0
}

// index files the routes into host buckets and orders the candidates.
func (t *Table) index() {
	t.hosts = map[string]*bucket{}
	t.wild = map[string]*bucket{}
	get := func(m map[string]*bucket, key, name string) *bucket {
		b := m[key]
		if b == nil {
			b = &bucket{name: name}
			m[key] = b
		}
		return b
	}
	for _, rt := range t.routes {
		if len(rt.Hosts) == 0 {
			if t.any == nil {
				t.any = &bucket{name: "(any)"}
			}
			t.any.insert(rt)
		}
		for _, h := range rt.Hosts {
			if isWildcard(h) {
				get(t.wild, h[1:], h).insert(rt)
			} else {
				get(t.hosts, h, h).insert(rt)
			}
		}
	}
	for _, h := range slices.Sorted(mapKeys(t.hosts)) {
		t.order = append(t.order, t.hosts[h])
	}
	wild := slices.SortedFunc(mapKeys(t.wild), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
	})
	for _, h := range wild {
		t.order = append(t.order, t.wild[h])
	}
	if t.any != nil {
		t.order = append(t.order, t.any)
	}
	for _, b := range t.order {
		b.sort()
	}
}
