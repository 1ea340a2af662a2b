package aggregate

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
)

// Problem is one thing wrong with an aggregate: where (a key path relative to
// the aggregate, like "calls[1].path") and what.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) Error() string { return p.Path + ": " + p.Message }

// Check reports what config validation cannot see in an aggregate: template
// syntax, references to unknown calls or route parameters (routeParams are
// the route's path parameter names), a call using its own answer, calls
// that depend on each other in a cycle, required calls that depend on
// optional ones, and merge options that cannot apply. Each problem names
// the call. It assumes a config that passed config validation (names unique
// and well formed) and does no I/O.
func Check(a *config.Aggregate, routeParams []string) []Problem {
	_, ps := compile(a, routeParams)
	return ps
}

// spec is one call's configuration, compiled.
type spec struct {
	cfg     *config.AggregateCall
	path    *template
	headers []headerTemplate
	body    *template
	// deps are the calls whose answers this one uses, sorted, without
	// duplicates; dependents the calls that use this one's.
	deps, dependents []int
	// fan is a placeholder with "*": the call runs once per element of
	// the array before it. nil for a single request.
	fan *ref
	// selects are the select entries split at dots; renames the rename
	// entries, sorted.
	selects [][]string
	renames []rename
}

type rename struct{ from, to string }

type headerTemplate struct {
	name string // canonical
	t    *template
}

// framing lists headers a call cannot set: they describe the message or the
// connection, which the transport owns.
var framing = map[string]bool{
	"Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Te": true,
	"Trailer": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true, "Host": true,
}

// compile parses every call's templates and builds the dependency graph.
// The specs are usable only when there are no problems.
func compile(a *config.Aggregate, routeParams []string) ([]*spec, []Problem) {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{path, fmt.Sprintf(format, args...)})
	}
	if a == nil {
		return nil, []Problem{{"", "missing aggregate section"}}
	}
	byName := make(map[string]int, len(a.Calls))
	for i, c := range a.Calls {
		if c != nil {
			if _, dup := byName[c.Name]; !dup {
				byName[c.Name] = i
			}
		}
	}
	specs := make([]*spec, len(a.Calls))
	// where[i][j] is the first key path at which call i uses call j.
	where := make([]map[int]string, len(a.Calls))
	for i, c := range a.Calls {
		cp := fmt.Sprintf("calls[%d]", i)
		if c == nil {
			add(cp, "empty call")
			continue
		}
		s := &spec{cfg: c}
		specs[i] = s
		where[i] = map[int]string{}
		use := func(at string, t *template) {
			for _, r := range t.refs() {
				if r.isParam() {
					if !slices.Contains(routeParams, r.name) {
						add(at, "%s", unknownParam(r, routeParams, byName))
					}
					continue
				}
				j, ok := byName[r.name]
				switch {
				case !ok:
					add(at, "%s refers to no call and no route parameter (calls: %s)", r.text, strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
					continue
				case j == i:
					add(at, "%s uses the answer of call %q itself; a call can use only other calls' answers", r.text, c.Name)
					continue
				}
				r.call = j
				if _, seen := where[i][j]; !seen {
					where[i][j] = at
					s.deps = append(s.deps, j)
				}
				if r.star < 0 {
					continue
				}
				switch {
				case s.fan == nil:
					s.fan = r
				case s.fan.call != j || !slices.Equal(s.fan.path[:s.fan.star], r.path[:r.star]):
					add(at, "%s fans out over another array than %s; one call fans out over one array", r.text, s.fan.text)
				}
			}
		}
		parse := func(at, text string, kind templateKind) *template {
			t, err := parseTemplate(text, kind)
			if err != nil {
				add(at, "%s", err)
				return nil
			}
			use(at, t)
			return t
		}
		if s.path = parse(cp+".path", c.Path, kindPath); s.path != nil {
			if msg := checkPath(s.path); msg != "" {
				add(cp+".path", "%s", msg)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
			at := cp + ".headers." + name
			canon := http.CanonicalHeaderKey(name)
			if framing[canon] {
				add(at, "%s is set by the gateway and cannot be set by a call", canon)
				continue
			}
			if t := parse(at, c.Headers[name], kindHeader); t != nil {
				s.headers = append(s.headers, headerTemplate{canon, t})
			}
		}
		if c.Body != "" {
			s.body = parse(cp+".body", c.Body, kindBody)
		}
		slices.Sort(s.deps)
		checkMerge(cp, s, add)
	}
	for i, s := range specs {
		if s == nil {
			continue
		}
		for _, j := range s.deps {
			if specs[j] == nil {
				continue
			}
			specs[j].dependents = append(specs[j].dependents, i)
			if specs[j].cfg.Optional && !s.cfg.Optional {
				add(where[i][j], "uses the answer of optional call %q, so it must be optional too (optional: true), or %q must not be optional", specs[j].cfg.Name, specs[j].cfg.Name)
			}
		}
	}
	for _, cycle := range cycles(specs) {
		names := make([]string, len(cycle)+1)
		for k, i := range cycle {
			names[k] = fmt.Sprintf("%q", specs[i].cfg.Name)
		}
		names[len(cycle)] = names[0]
		add(where[cycle[0]][cycle[1%len(cycle)]], "calls %s use each other's answers in a cycle, so none could start; break the cycle", strings.Join(names, " -> "))
	}
	return specs, ps
}

func unknownParam(r *ref, routeParams []string, calls map[string]int) string {
	if _, ok := calls[r.name]; ok {
		return fmt.Sprintf("%s names call %q but no field of its answer; write {%s.field}", r.text, r.name, r.name)
	}
	if len(routeParams) == 0 {
		return fmt.Sprintf("%s is not a path parameter: the route's path has none", r.text)
	}
	return fmt.Sprintf("%s is not a path parameter of the route (parameters: %s)", r.text, strings.Join(routeParams, ", "))
}

// checkPath checks the literal text of a path template: placeholders stand
// for escaped values, so the text with a value in their place must be a
// valid origin-form request target.
func checkPath(t *template) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref != nil {
			b.WriteString("x")
			continue
		}
		b.WriteString(p.lit)
	}
	s := b.String()
	if strings.ContainsAny(s, "# \t\r\n") {
		return fmt.Sprintf("%q: a path cannot hold spaces, control characters or a fragment (#); percent-encode them", t.text)
	}
	if _, err := url.ParseRequestURI(s); err != nil || !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("%q is not a valid path: want /path?query with %%-escapes where needed", t.text)
	}
	return ""
}

// checkMerge checks select, rename and flatten of one call.
func checkMerge(cp string, s *spec, add func(string, string, ...any)) {
	c := s.cfg
	top := map[string]bool{}
	for k, sel := range c.Select {
		segs := strings.Split(sel, ".")
		if slices.Contains(segs, "") {
			add(fmt.Sprintf("%s.select[%d]", cp, k), "%q: want a field name, or a dotted path like address.city", sel)
			continue
		}
		s.selects = append(s.selects, segs)
		top[segs[0]] = true
	}
	targets := map[string]string{}
	for _, from := range slices.Sorted(maps.Keys(c.Rename)) {
		to, at := c.Rename[from], cp+".rename."+from
		switch {
		case strings.Contains(from, ".") || strings.Contains(to, "."):
			add(at, "rename applies to top-level fields: want field: new_name, without dots")
		case len(c.Select) > 0 && !top[from]:
			add(at, "%q is not kept by select, so there is nothing to rename; add it to select", from)
		case targets[to] != "":
			add(at, "%q and %q would both be renamed to %q", targets[to], from, to)
		}
		targets[to] = from
		s.renames = append(s.renames, rename{from, to})
	}
	if c.Flatten && s.fan != nil {
		add(cp+".flatten", "a call that fans out answers an array, which cannot be flattened into the top level")
	}
}

// cycles returns the dependency cycles among specs, each once, as call
// indexes in dependency order starting at the lowest index. Self references
// are reported elsewhere and never recorded as deps.
func cycles(specs []*spec) [][]int {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(specs))
	var stack []int
	var out [][]int
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, j := range specs[i].deps {
			if specs[j] == nil {
				continue
			}
			switch color[j] {
			case white:
				visit(j)
			case grey:
				k := slices.Index(stack, j)
				cycle := slices.Clone(stack[k:])
				m := slices.Index(cycle, slices.Min(cycle))
				out = append(out, append(cycle[m:], cycle[:m]...))
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i, s := range specs {
		if s != nil && color[i] == white {
			visit(i)
		}
	}
	return out
}

// pathParams returns the parameter names of a match.path pattern, in
// order: the names of its {name} and {name...} segments.
func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			if name, ok = strings.CutSuffix(name, "}"); ok {
				out = append(out, strings.TrimSuffix(name, "..."))
			}
		}
	}
	return out
}
