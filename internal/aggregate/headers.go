package aggregate

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/config"
)

// headerRules is a route's request_headers or response_headers, applied as
// the proxy applies them: remove, then set, then add. On an aggregate route
// the request rules go to every call and the response rules to the merged
// answer.
type headerRules struct {
	remove []string
	set    []headerValue
	add    []headerValue
}

type headerValue struct{ name, value string }

// compileRules checks and compiles hr; key is "request_headers" or
// "response_headers". It returns nil when hr has no rules.
func compileRules(key string, hr *config.HeaderRules, add func(path, format string, args ...any)) *headerRules {
	if hr == nil || len(hr.Set)+len(hr.Add)+len(hr.Remove) == 0 {
		return nil
	}
	ok := func(path, name string) (string, bool) {
		c := http.CanonicalHeaderKey(name)
		if framing[c] {
			add(path, "%s describes the message or the connection and cannot be changed by a rule", c)
			return "", false
		}
		return c, true
	}
	r := &headerRules{}
	for i, name := range hr.Remove {
		if c, good := ok(key+".remove["+strconv.Itoa(i)+"]", name); good {
			r.remove = append(r.remove, c)
		}
	}
	values := func(kind string, m map[string]string) []headerValue {
		var out []headerValue
		for _, name := range slices.Sorted(maps.Keys(m)) {
			at := key + "." + kind + "." + name
			c, good := ok(at, name)
			if !good {
				continue
			}
			if !validHeaderValue(m[name]) {
				add(at, "value holds control characters")
				continue
			}
			out = append(out, headerValue{c, m[name]})
		}
		return out
	}
	r.set = values("set", hr.Set)
	r.add = values("add", hr.Add)
	return r
}

// apply changes h; a nil r does nothing.
func (r *headerRules) apply(h http.Header) {
	if r == nil {
		return
	}
	for _, name := range r.remove {
		delete(h, name)
	}
	for _, v := range r.set {
		h[v.name] = []string{v.value}
	}
	for _, v := range r.add {
		h[v.name] = append(h[v.name], v.value)
	}
}
